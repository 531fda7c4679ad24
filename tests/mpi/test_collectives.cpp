// MPI tests of the collectives: rank-ordered sums (bitwise equal to a fixed-order reference on every rank),
// broadcast, split into pipeline x data-parallel grids, and the trace gathered from every rank.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "dist/communicator.hpp"
#include "dist/trace.hpp"
#include "support/temp_dir.hpp"

using namespace mhc;
using namespace mhc::dist;

namespace {

// Rank r's addend i: magnitudes spread over many binades so that the summation order changes the rounding.
template <typename T>
T addend(int rank, std::int64_t i) {
  const double u = std::sin(static_cast<double>(i * 7919 + rank * 104729) * 0.001);
  return static_cast<T>(u * std::pow(2.0, static_cast<double>((i + 3 * rank) % 41 - 20)));
}

// ((x0 + x1) + x2) + ... in T, as every rank must get it.
template <typename T>
std::vector<T> rank_order_sum(int ranks, std::int64_t count) {
  std::vector<T> sum(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) {
    T acc = addend<T>(0, i);
    for (int r = 1; r < ranks; ++r) acc += addend<T>(r, i);
    sum[static_cast<std::size_t>(i)] = acc;
  }
  return sum;
}

template <typename T>
void check_allreduce(Communicator& comm, std::int64_t count) {
  std::vector<T> data(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) data[static_cast<std::size_t>(i)] = addend<T>(comm.rank(), i);
  comm.allreduce_sum(data.data(), count);
  const std::vector<T> expected = rank_order_sum<T>(comm.size(), count);
  INFO("count " << count << ", " << sizeof(T) << "-byte values");
  // memcmp of zero bytes still needs valid pointers, which empty vectors need not have.
  CHECK((data.empty() || std::memcmp(data.data(), expected.data(), data.size() * sizeof(T)) == 0));
  // The same bits on every rank: rank 0's result broadcast equals this rank's.
  std::vector<T> root = data;
  comm.broadcast(root.data(), count * static_cast<std::int64_t>(sizeof(T)), 0);
  CHECK((data.empty() || std::memcmp(data.data(), root.data(), data.size() * sizeof(T)) == 0));
}

}  // namespace

TEST_CASE("allreduce_sum: bitwise the rank-order sum on every rank", "[mpi]") {
  for (std::int64_t count : {std::int64_t{0}, std::int64_t{1}, std::int64_t{1000}, (std::int64_t{1} << 20) + 5}) {
    check_allreduce<float>(world(), count);
    check_allreduce<double>(world(), count);
  }
}

TEST_CASE("allreduce_sum: the test data does depend on the summation order", "[mpi]") {
  // Reversed order gives other bits for some elements once three or more ranks add (two addends commute exactly).
  const int ranks = world().size();
  if (ranks < 3) return;
  const std::vector<float> forward = rank_order_sum<float>(ranks, 1000);
  int differ = 0;
  for (std::int64_t i = 0; i < 1000; ++i) {
    float acc = addend<float>(ranks - 1, i);
    for (int r = ranks - 2; r >= 0; --r) acc += addend<float>(r, i);
    differ += acc != forward[static_cast<std::size_t>(i)];
  }
  CHECK(differ > 0);
}

TEST_CASE("broadcast from every root, also in parts", "[mpi]") {
  Communicator& w = world();
  const std::int64_t saved = max_message_bytes();
  for (std::int64_t limit : {saved, std::int64_t{5}}) {
    set_max_message_bytes(limit);
    for (int root = 0; root < w.size(); ++root) {
      std::vector<int> data(1001, -1);
      if (w.rank() == root) {
        for (std::size_t i = 0; i < data.size(); ++i) data[i] = root * 100000 + static_cast<int>(i);
      }
      w.broadcast(data.data(), static_cast<std::int64_t>(data.size() * sizeof(int)), root);
      int wrong = 0;
      for (std::size_t i = 0; i < data.size(); ++i) wrong += data[i] != root * 100000 + static_cast<int>(i);
      CHECK(wrong == 0);
    }
  }
  set_max_message_bytes(saved);
}

TEST_CASE("split into a pipeline x data-parallel grid", "[mpi]") {
  Communicator& w = world();
  const int pp = w.size() % 2 == 0 ? 2 : 1, dp = w.size() / pp;  // 4 ranks: 2 x 2
  const int stage = w.rank() % pp, replica = w.rank() / pp;
  auto pipe = w.split(replica, stage);
  auto data_parallel = w.split(stage, replica);
  REQUIRE(pipe->size() == pp);
  REQUIRE(data_parallel->size() == dp);
  CHECK(pipe->rank() == stage);
  CHECK(data_parallel->rank() == replica);

  // Sum over the replicas of one stage: the world ranks of that stage.
  double ranks_of_stage = w.rank();
  data_parallel->allreduce_sum(&ranks_of_stage, 1);
  double expected = 0;
  for (int q = 0; q < dp; ++q) expected += q * pp + stage;
  CHECK(ranks_of_stage == expected);

  // The same tag in every pipeline: each message stays within its own pipeline.
  const int next = (stage + 1) % pp, prev = (stage + pp - 1) % pp;
  int sent = w.rank(), got = -1;
  Request r = pipe->irecv(&got, sizeof got, prev, 0);
  Request s = pipe->isend(&sent, sizeof sent, next, 0);
  pipe->wait(r);
  pipe->wait(s);
  CHECK(got == replica * pp + prev);

  // The key orders the new ranks: reversed keys give reversed ranks.
  auto reversed = w.split(0, -w.rank());
  CHECK(reversed->rank() == w.size() - 1 - w.rank());
  reversed->barrier();
}

TEST_CASE("the trace gathers every rank's spans to rank 0, one tid per rank", "[mpi]") {
  Communicator& w = world();
  TraceRecorder rec;
  rec.start_epoch(w);
  for (int k = 0; k <= w.rank(); ++k) rec.add("F" + std::to_string(k), "F", 10 * k, 5, k, w.rank());
  rec.add("wait", "wait", 100, 7);
  const auto sums = rec.summarize(w);
  const test::TempDir dir("mpi_trace");  // rank 0's is the one written
  const std::string path = dir.file("trace.json");
  rec.write_chrome_trace(w, path);
  if (w.rank() != 0) {
    CHECK(sums.empty());
    return;
  }
  REQUIRE(sums.size() == static_cast<std::size_t>(w.size()));
  for (int r = 0; r < w.size(); ++r) {
    CHECK(sums[static_cast<std::size_t>(r)].compute_us == 5 * (r + 1));
    CHECK(sums[static_cast<std::size_t>(r)].blocked_us == 7);
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const auto trace = nlohmann::json::parse(text.str());
  std::vector<int> per_tid(static_cast<std::size_t>(w.size()), 0);
  std::set<int> named;
  for (const auto& e : trace.at("traceEvents")) {
    if (e.at("ph") == "X" && e.at("cat") == "F") {
      const int tid = e.at("tid").get<int>();
      REQUIRE(tid >= 0);
      REQUIRE(tid < w.size());
      CHECK(e.at("args").at("stage") == tid);
      ++per_tid[static_cast<std::size_t>(tid)];
    }
    if (e.at("name") == "thread_name") named.insert(e.at("tid").get<int>());
  }
  for (int r = 0; r < w.size(); ++r) CHECK(per_tid[static_cast<std::size_t>(r)] == r + 1);
  CHECK(named.size() == static_cast<std::size_t>(w.size()));
}
