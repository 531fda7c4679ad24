// MPI tests of point-to-point transfers: a ring of several sizes, split messages, size mismatches, test(), tags.
#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dist/communicator.hpp"

using namespace mhc;
using namespace mhc::dist;
using Catch::Matchers::Contains;

namespace {

// The byte i of the message from rank `from`.
unsigned char pattern(int from, std::int64_t i) {
  return static_cast<unsigned char>((from * 131 + i * 7 + i / 251) & 0xff);
}

// Every rank sends `bytes` to the next rank and receives from the previous one, several transfers in flight.
void ring_exchange(Communicator& comm, const std::vector<std::int64_t>& sizes) {
  const int r = comm.rank(), n = comm.size(), next = (r + 1) % n, prev = (r + n - 1) % n;
  std::vector<std::vector<unsigned char>> out, in;
  std::vector<Request> sends, recvs;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    out.emplace_back(static_cast<std::size_t>(sizes[k]));
    for (std::int64_t i = 0; i < sizes[k]; ++i) out.back()[static_cast<std::size_t>(i)] = pattern(r, i + k);
    in.emplace_back(static_cast<std::size_t>(sizes[k]), 0);
  }
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    recvs.push_back(comm.irecv(in[k].data(), sizes[k], prev, static_cast<int>(k)));
  }
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    sends.push_back(comm.isend(out[k].data(), sizes[k], next, static_cast<int>(k)));
  }
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    comm.wait(recvs[k]);
    CHECK_FALSE(recvs[k].active());
    std::int64_t wrong = 0;
    for (std::int64_t i = 0; i < sizes[k]; ++i) wrong += in[k][static_cast<std::size_t>(i)] != pattern(prev, i + k);
    INFO("size " << sizes[k]);
    CHECK(wrong == 0);
  }
  wait_all(comm, sends);
  for (const Request& s : sends) CHECK_FALSE(s.active());
}

std::string comm_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const CommError& e) {
    return e.what();
  }
  return "no throw";
}

// Restores the default message limit at the end of a test case, whatever happens.
struct MessageLimit {
  std::int64_t saved = max_message_bytes();
  explicit MessageLimit(std::int64_t limit) { set_max_message_bytes(limit); }
  ~MessageLimit() { set_max_message_bytes(saved); }
};

}  // namespace

TEST_CASE("ring exchange of several sizes with non-blocking sends and receives", "[mpi]") {
  ring_exchange(world(), {0, 1, 7, 4096, (1 << 20) + 3, 3 << 20});
}

TEST_CASE("messages over the limit travel in parts and arrive whole", "[mpi]") {
  MessageLimit limit(7);
  ring_exchange(world(), {0, 1, 6, 7, 8, 14, 15, 100, 4097});
}

TEST_CASE("a receive of another size than the message is a CommError on the receiver", "[mpi]") {
  Communicator& w = world();
  if (w.size() < 2) return;
  auto pair = w.split(w.rank() < 2 ? 0 : 1, w.rank());
  if (w.rank() >= 2) return;
  std::vector<char> buf(64, 1);
  const int peer = 1 - pair->rank();
  // Sent and expected byte counts, and the size of the sender's part left over after the error (-1: none).
  // With a 7-byte limit: 8 = 7 + 1, 14 = 7 + 7 + 0, 7 = 7 + 0, 4 = 4.
  struct Case {
    std::int64_t sent, expected, leftover;
  };
  MessageLimit limit(7);
  for (const Case& c : {Case{8, 4, 1}, Case{4, 8, -1}, Case{14, 7, 0}, Case{7, 14, -1}}) {
    INFO("sent " << c.sent << ", expected " << c.expected);
    if (pair->rank() == 0) {
      Request s = pair->isend(buf.data(), c.sent, peer, 3);
      pair->wait(s);
    } else {
      Request r = pair->irecv(buf.data(), c.expected, peer, 3);
      const std::string msg = comm_error_of([&] { pair->wait(r); });
      CHECK_THAT(msg, Contains("differ in size") && Contains("tag 3") && Contains("from rank 0"));
      CHECK_FALSE(r.active());
      if (c.leftover >= 0) {  // the part the failed receive did not take is still on its way
        Request rest = pair->irecv(buf.data(), c.leftover, peer, 3);
        pair->wait(rest);
      }
    }
    pair->barrier();
  }
  // The pair still works after the errors.
  int x = pair->rank() * 10 + 1, y = 0;
  Request s = pair->isend(&x, sizeof x, peer, 3);
  Request r = pair->irecv(&y, sizeof y, peer, 3);
  pair->wait(r);
  pair->wait(s);
  CHECK(y == peer * 10 + 1);
}

TEST_CASE("test() is false until the message has arrived, then the request is inactive", "[mpi]") {
  Communicator& w = world();
  if (w.size() < 2) return;
  int value = 0;
  if (w.rank() == 0) {
    Request r = w.irecv(&value, sizeof value, 1, 9);
    CHECK_FALSE(w.test(r));  // rank 1 sends only after the barrier
    CHECK(r.active());
    w.barrier();
    while (!w.test(r)) {
    }
    CHECK_FALSE(r.active());
    CHECK(value == 77);
    CHECK(w.test(r));
  } else {
    w.barrier();
    if (w.rank() == 1) {
      value = 77;
      Request s = w.isend(&value, sizeof value, 0, 9);
      w.wait(s);
    }
  }
}

TEST_CASE("an abandoned receive is cancelled and does not take a later message", "[mpi]") {
  Communicator& w = world();
  if (w.size() < 2) return;
  int got = 0;
  if (w.rank() == 0) {
    { Request dropped = w.irecv(&got, sizeof got, 1, 12); }
    w.barrier();
    Request r = w.irecv(&got, sizeof got, 1, 12);
    w.wait(r);
    CHECK(got == 42);
  } else {
    w.barrier();
    if (w.rank() == 1) {
      int sent = 42;
      Request s = w.isend(&sent, sizeof sent, 0, 12);
      w.wait(s);
    }
  }
}

TEST_CASE("tags up to 2^20 work; bad tags and peers are CommErrors naming them", "[mpi]") {
  Communicator& w = world();
  const int tag = 1 << 20;
  int x = w.rank(), y = -1;
  Request r = w.irecv(&y, sizeof y, w.rank(), tag);
  Request s = w.isend(&x, sizeof x, w.rank(), tag);
  w.wait(r);
  w.wait(s);
  CHECK(y == w.rank());
  CHECK_THAT(comm_error_of([&] { w.isend(&x, sizeof x, 0, -1); }), Contains("tag -1"));
  CHECK_THAT(comm_error_of([&] { w.irecv(&y, sizeof y, w.size(), 0); }), Contains("peer " + std::to_string(w.size())));
}
