// Per-rank timing spans of a pipeline step, gathered to rank 0 as a Chrome trace (Perfetto) and a time summary.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "dist/communicator.hpp"

namespace mhc::dist {

// One timed piece of work on one rank. category is one of "F", "B", "W" (compute), "send", "recv", "wait"
// (communication), "allreduce", "optimizer"; other categories ("step", and the trainer's "eval", "diagnostics" and
// "checkpoint") are recorded and written but not summarised.
// Times are microseconds since the rank's epoch; mb and stage are -1 when they do not apply.
struct TraceSpan {
  std::string name;
  std::string category;
  std::int64_t start_us = 0;
  std::int64_t dur_us = 0;
  int mb = -1;
  int stage = -1;
};
bool operator==(const TraceSpan& a, const TraceSpan& b);

// Where one rank's time went, in microseconds.
struct RankTimeSummary {
  int rank = 0;
  std::int64_t compute_us = 0;    // F + B + W
  std::int64_t blocked_us = 0;    // wait + recv: time spent blocked on communication
  std::int64_t allreduce_us = 0;
  std::int64_t optimizer_us = 0;
  std::int64_t send_us = 0;
  std::int64_t wall_us = 0;  // last span end - first span start (0 without spans)
  std::int64_t spans = 0;
};

// Records spans on one rank (single-threaded: call from the thread that runs the schedule).
class TraceRecorder {
 public:
  TraceRecorder();  // the epoch starts now; start_epoch aligns it across ranks

  // Collective: a barrier on comm, then this rank's epoch restarts at now. Clears the spans recorded so far.
  void start_epoch(Communicator& comm);
  // Microseconds since this rank's epoch (steady clock).
  std::int64_t now_us() const;
  void add(std::string name, std::string category, std::int64_t start_us, std::int64_t dur_us, int mb = -1,
           int stage = -1);
  const std::vector<TraceSpan>& spans() const { return spans_; }

  // Collective over comm: every rank's spans, indexed by rank, on rank 0; an empty vector on the other ranks.
  std::vector<std::vector<TraceSpan>> gather(Communicator& comm) const;
  // Collective over comm: gathers, then rank 0 writes chrome_trace_json(...) to path (IoError when it cannot).
  void write_chrome_trace(Communicator& comm, const std::string& path) const;
  // Collective over comm: summarize(gather(comm)) on rank 0; an empty vector on the other ranks.
  std::vector<RankTimeSummary> summarize(Communicator& comm) const;

 private:
  std::chrono::steady_clock::time_point epoch_;
  std::vector<TraceSpan> spans_;
};

// Records one span from its construction to its destruction; does nothing when recorder is null.
class ScopedSpan {
 public:
  ScopedSpan(TraceRecorder* recorder, std::string name, std::string category, int mb = -1, int stage = -1);
  ~ScopedSpan();
  ScopedSpan(const ScopedSpan&) = delete;
  ScopedSpan& operator=(const ScopedSpan&) = delete;

 private:
  TraceRecorder* recorder_;
  std::string name_, category_;
  int mb_, stage_;
  std::int64_t start_us_ = 0;
};

// Per-rank totals of spans indexed by rank (rank = index).
std::vector<RankTimeSummary> summarize(const std::vector<std::vector<TraceSpan>>& spans_per_rank);

// Chrome trace event format (opens in Perfetto and chrome://tracing): {"traceEvents": [...]} with one complete
// event (ph "X", pid 0, tid = rank, ts and dur in microseconds, args {mb, stage}) per span and thread_name
// metadata "rank R" for every rank.
std::string chrome_trace_json(const std::vector<std::vector<TraceSpan>>& spans_per_rank);
// The spans of a trace file that chrome_trace_json wrote (a run's trace.json), indexed by rank (tid), in file
// order; metadata events are skipped. IoError naming the file when it cannot be read, is not JSON or holds an
// event that is not such a span.
std::vector<std::vector<TraceSpan>> read_chrome_trace(const std::string& path);

}  // namespace mhc::dist
