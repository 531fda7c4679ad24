// Tests of TraceRecorder in one process: spans, ScopedSpan, the per-rank summary and the Chrome trace JSON.
#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "dist/communicator.hpp"
#include "dist/trace.hpp"
#include "support/temp_dir.hpp"

using namespace mhc;
using namespace mhc::dist;
using nlohmann::json;

namespace {

std::vector<std::vector<TraceSpan>> two_ranks() {
  return {{{"F0", "F", 0, 10, 0, 0},
           {"send act", "send", 10, 1, 0, 0},
           {"B0", "B", 30, 12, 0, 0},
           {"W0", "W", 42, 8, 0, 0},
           {"allreduce", "allreduce", 50, 5},
           {"step", "optimizer", 55, 3}},
          {{"recv act", "recv", 0, 11, 0, 1},
           {"F0", "F", 11, 10, 0, 1},
           {"wait grad", "wait", 21, 4, 0, 1},
           {"B0 \"quoted\"", "B", 25, 5, 0, 1},
           {"custom", "other", 40, 100}}};
}

}  // namespace

TEST_CASE("TraceRecorder: spans against its epoch; ScopedSpan records its lifetime", "[dist]") {
  auto comm = make_local_communicator();
  TraceRecorder rec;
  rec.add("stale", "F", 0, 1);
  rec.start_epoch(*comm);
  CHECK(rec.spans().empty());
  const std::int64_t t0 = rec.now_us();
  CHECK(t0 >= 0);
  {
    ScopedSpan span(&rec, "F3", "F", 3, 1);
    ScopedSpan nothing(nullptr, "ignored", "F");
  }
  REQUIRE(rec.spans().size() == 1);
  const TraceSpan& s = rec.spans()[0];
  CHECK(s.name == "F3");
  CHECK(s.category == "F");
  CHECK(s.mb == 3);
  CHECK(s.stage == 1);
  CHECK(s.start_us >= t0);
  CHECK(s.dur_us >= 0);
  CHECK(rec.now_us() >= s.start_us + s.dur_us);
}

TEST_CASE("summarize: compute, blocked, allreduce and wall time per rank", "[dist]") {
  const auto sums = summarize(two_ranks());
  REQUIRE(sums.size() == 2);
  CHECK(sums[0].rank == 0);
  CHECK(sums[0].compute_us == 30);
  CHECK(sums[0].blocked_us == 0);
  CHECK(sums[0].send_us == 1);
  CHECK(sums[0].allreduce_us == 5);
  CHECK(sums[0].optimizer_us == 3);
  CHECK(sums[0].wall_us == 58);
  CHECK(sums[0].spans == 6);
  CHECK(sums[1].rank == 1);
  CHECK(sums[1].compute_us == 15);
  CHECK(sums[1].blocked_us == 15);
  CHECK(sums[1].wall_us == 140);
  CHECK(summarize({{}})[0].wall_us == 0);
}

TEST_CASE("chrome_trace_json: complete events with one tid per rank and named threads", "[dist]") {
  const json trace = json::parse(chrome_trace_json(two_ranks()));
  REQUIRE(trace.contains("traceEvents"));
  std::set<int> tids, named;
  int complete = 0;
  for (const json& e : trace["traceEvents"]) {
    CHECK(e.at("pid") == 0);
    if (e.at("ph") == "X") {
      ++complete;
      tids.insert(e.at("tid").get<int>());
      CHECK(e.at("dur").get<std::int64_t>() >= 0);
      CHECK(e.at("args").contains("mb"));
    } else if (e.at("name") == "thread_name") {
      named.insert(e.at("tid").get<int>());
      CHECK(e.at("args").at("name") == "rank " + std::to_string(e.at("tid").get<int>()));
    }
  }
  CHECK(complete == 11);
  CHECK(tids == std::set<int>{0, 1});
  CHECK(named == std::set<int>{0, 1});
  bool found_quoted = false;
  for (const json& e : trace["traceEvents"]) {
    if (e.at("name") == "B0 \"quoted\"") {
      found_quoted = true;
      CHECK(e.at("tid") == 1);
      CHECK(e.at("ts") == 25);
      CHECK(e.at("dur") == 5);
      CHECK(e.at("cat") == "B");
      CHECK(e.at("args").at("stage") == 1);
    }
  }
  CHECK(found_quoted);
}

TEST_CASE("TraceRecorder over one process: gather, summary and the trace file", "[dist]") {
  auto comm = make_local_communicator();
  TraceRecorder rec;
  rec.start_epoch(*comm);
  rec.add("F0", "F", 1, 2, 0, 0);
  rec.add("wait", "wait", 3, 4);
  const auto all = rec.gather(*comm);
  REQUIRE(all.size() == 1);
  CHECK(all[0] == rec.spans());
  const auto sums = rec.summarize(*comm);
  REQUIRE(sums.size() == 1);
  CHECK(sums[0].compute_us == 2);
  CHECK(sums[0].blocked_us == 4);

  test::TempDir dir("trace");
  rec.write_chrome_trace(*comm, dir.file("trace.json"));
  std::ifstream in(dir.file("trace.json"));
  std::stringstream text;
  text << in.rdbuf();
  const json trace = json::parse(text.str());
  int complete = 0;
  for (const json& e : trace["traceEvents"]) complete += e.at("ph") == "X" && e.at("tid") == 0 ? 1 : 0;
  CHECK(complete == 2);
  CHECK_THROWS_AS(rec.write_chrome_trace(*comm, dir.file("missing/dir/trace.json")), IoError);
}
