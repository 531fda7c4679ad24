// TraceRecorder: spans against a steady-clock epoch, gathered to rank 0 over a communicator, Chrome trace JSON.
#include "dist/trace.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "io/json_text.hpp"

namespace mhc::dist {

namespace {

using nlohmann::json;

constexpr int kSizeTag = 1, kSpansTag = 2;  // on a private communicator split off for the gather

json to_json(const std::vector<TraceSpan>& spans) {
  json a = json::array();
  for (const TraceSpan& s : spans) a.push_back({s.name, s.category, s.start_us, s.dur_us, s.mb, s.stage});
  return a;
}

std::vector<TraceSpan> spans_from_json(const json& a) {
  std::vector<TraceSpan> spans;
  for (const json& e : a) {
    spans.push_back({e.at(0).get<std::string>(), e.at(1).get<std::string>(), e.at(2).get<std::int64_t>(),
                     e.at(3).get<std::int64_t>(), e.at(4).get<int>(), e.at(5).get<int>()});
  }
  return spans;
}

}  // namespace

bool operator==(const TraceSpan& a, const TraceSpan& b) {
  return std::tie(a.name, a.category, a.start_us, a.dur_us, a.mb, a.stage) ==
         std::tie(b.name, b.category, b.start_us, b.dur_us, b.mb, b.stage);
}

TraceRecorder::TraceRecorder() : epoch_(std::chrono::steady_clock::now()) {}

void TraceRecorder::start_epoch(Communicator& comm) {
  comm.barrier();
  epoch_ = std::chrono::steady_clock::now();
  spans_.clear();
}

std::int64_t TraceRecorder::now_us() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - epoch_).count();
}

void TraceRecorder::add(std::string name, std::string category, std::int64_t start_us, std::int64_t dur_us, int mb,
                        int stage) {
  spans_.push_back({std::move(name), std::move(category), start_us, dur_us, mb, stage});
}

std::vector<std::vector<TraceSpan>> TraceRecorder::gather(Communicator& comm) const {
  const std::unique_ptr<Communicator> own = comm.split(0, comm.rank());  // keeps these messages off the user's tags
  if (own->rank() != 0) {
    const std::vector<std::uint8_t> bytes = json::to_cbor(to_json(spans_));
    const std::int64_t size = static_cast<std::int64_t>(bytes.size());
    Request size_sent = own->isend(&size, sizeof size, 0, kSizeTag);
    Request spans_sent = own->isend(bytes.data(), size, 0, kSpansTag);
    own->wait(size_sent);
    own->wait(spans_sent);
    return {};
  }
  std::vector<std::vector<TraceSpan>> all(static_cast<std::size_t>(own->size()));
  all[0] = spans_;
  for (int r = 1; r < own->size(); ++r) {
    std::int64_t size = 0;
    Request size_received = own->irecv(&size, sizeof size, r, kSizeTag);
    own->wait(size_received);
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    Request spans_received = own->irecv(bytes.data(), size, r, kSpansTag);
    own->wait(spans_received);
    all[static_cast<std::size_t>(r)] = spans_from_json(json::from_cbor(bytes));
  }
  return all;
}

void TraceRecorder::write_chrome_trace(Communicator& comm, const std::string& path) const {
  const auto all = gather(comm);
  if (comm.rank() != 0) return;
  write_file_atomic(path, chrome_trace_json(all));
}

std::vector<RankTimeSummary> TraceRecorder::summarize(Communicator& comm) const {
  const auto all = gather(comm);
  return comm.rank() == 0 ? dist::summarize(all) : std::vector<RankTimeSummary>{};
}

ScopedSpan::ScopedSpan(TraceRecorder* recorder, std::string name, std::string category, int mb, int stage)
    : recorder_(recorder), name_(std::move(name)), category_(std::move(category)), mb_(mb), stage_(stage) {
  if (recorder_ != nullptr) start_us_ = recorder_->now_us();
}

ScopedSpan::~ScopedSpan() {
  if (recorder_ != nullptr) {
    recorder_->add(std::move(name_), std::move(category_), start_us_, recorder_->now_us() - start_us_, mb_, stage_);
  }
}

std::vector<RankTimeSummary> summarize(const std::vector<std::vector<TraceSpan>>& spans_per_rank) {
  std::vector<RankTimeSummary> out;
  for (std::size_t r = 0; r < spans_per_rank.size(); ++r) {
    RankTimeSummary s;
    s.rank = static_cast<int>(r);
    std::int64_t first = 0, last = 0;
    for (const TraceSpan& span : spans_per_rank[r]) {
      const std::string& c = span.category;
      if (c == "F" || c == "B" || c == "W") s.compute_us += span.dur_us;
      if (c == "wait" || c == "recv") s.blocked_us += span.dur_us;
      if (c == "allreduce") s.allreduce_us += span.dur_us;
      if (c == "optimizer") s.optimizer_us += span.dur_us;
      if (c == "send") s.send_us += span.dur_us;
      first = s.spans == 0 ? span.start_us : std::min(first, span.start_us);
      last = s.spans == 0 ? span.start_us + span.dur_us : std::max(last, span.start_us + span.dur_us);
      ++s.spans;
    }
    s.wall_us = last - first;
    out.push_back(s);
  }
  return out;
}

std::string chrome_trace_json(const std::vector<std::vector<TraceSpan>>& spans_per_rank) {
  json events = json::array();
  events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", 0}, {"args", {{"name", "mhc-train"}}}});
  for (std::size_t r = 0; r < spans_per_rank.size(); ++r) {
    const int rank = static_cast<int>(r);
    events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", 0}, {"tid", rank},
                      {"args", {{"name", "rank " + std::to_string(rank)}}}});
    events.push_back({{"name", "thread_sort_index"}, {"ph", "M"}, {"pid", 0}, {"tid", rank},
                      {"args", {{"sort_index", rank}}}});
  }
  for (std::size_t r = 0; r < spans_per_rank.size(); ++r) {
    for (const TraceSpan& s : spans_per_rank[r]) {
      events.push_back({{"name", s.name}, {"cat", s.category}, {"ph", "X"}, {"ts", s.start_us}, {"dur", s.dur_us},
                        {"pid", 0}, {"tid", static_cast<int>(r)}, {"args", {{"mb", s.mb}, {"stage", s.stage}}}});
    }
  }
  return json{{"traceEvents", events}, {"displayTimeUnit", "ms"}}.dump() + "\n";
}

std::vector<std::vector<TraceSpan>> read_chrome_trace(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MHC_CHECK(in.good(), IoError, "cannot read trace ", path);
  std::ostringstream text;
  text << in.rdbuf();
  const json trace = io::parse_json_text<json>(text.str(), path, 16);
  MHC_CHECK(trace.is_object() && trace.contains("traceEvents") && trace["traceEvents"].is_array(), IoError, path,
            ": not a Chrome trace (no \"traceEvents\" array)");
  std::vector<std::vector<TraceSpan>> spans;
  std::size_t index = 0;
  for (const json& e : trace["traceEvents"]) {
    const std::string where = path + ": traceEvents[" + std::to_string(index++) + "]";
    MHC_CHECK(e.is_object() && e.contains("ph") && e["ph"].is_string(), IoError, where, ": not a trace event");
    if (e["ph"] == "M") continue;
    try {
      const int rank = e.at("tid").get<int>();
      MHC_CHECK(e["ph"] == "X" && rank >= 0 && rank < 65536, IoError, where, ": not a span of a rank");
      if (spans.size() <= static_cast<std::size_t>(rank)) spans.resize(static_cast<std::size_t>(rank) + 1);
      const json& args = e.at("args");
      spans[static_cast<std::size_t>(rank)].push_back(
          {e.at("name").get<std::string>(), e.at("cat").get<std::string>(), e.at("ts").get<std::int64_t>(),
           e.at("dur").get<std::int64_t>(), args.at("mb").get<int>(), args.at("stage").get<int>()});
    } catch (const json::exception& ex) {
      throw IoError(where + ": " + without_library_tag(ex.what()));
    }
  }
  return spans;
}

}  // namespace mhc::dist
