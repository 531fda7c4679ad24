// Tests of the single-process communicator (messages to itself matched by tag), message splitting and the world.
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

std::string comm_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const CommError& e) {
    return e.what();
  }
  return "no throw";
}

}  // namespace

TEST_CASE("message_chunks: full messages of the limit, then a short last one", "[dist]") {
  using V = std::vector<std::int64_t>;
  CHECK(message_chunks(0, 4) == V{0});
  CHECK(message_chunks(3, 4) == V{3});
  CHECK(message_chunks(4, 4) == V{4, 0});
  CHECK(message_chunks(9, 4) == V{4, 4, 1});
  CHECK(message_chunks(12, 4) == V{4, 4, 4, 0});
  CHECK(message_chunks(std::int64_t{5} << 30, std::int64_t{1} << 30).size() == 6);
  CHECK_THROWS_AS(message_chunks(-1, 4), CommError);
  CHECK_THROWS_AS(message_chunks(4, 0), CommError);
}

TEST_CASE("message_chunks: two different sizes first differ in a part the receiver can tell apart", "[dist]") {
  // A receive of part i with the expected size matches a sent part only when both have that size; so any two
  // different totals must differ in some part before either runs out, where the receive sees the wrong size.
  const std::int64_t limit = 4;
  for (std::int64_t a = 0; a <= 13; ++a) {
    for (std::int64_t b = 0; b <= 13; ++b) {
      if (a == b) continue;
      const auto ca = message_chunks(a, limit), cb = message_chunks(b, limit);
      std::size_t i = 0;
      while (i < ca.size() && i < cb.size() && ca[i] == cb[i]) ++i;
      INFO(a << " vs " << b);
      CHECK(i < ca.size());
      CHECK(i < cb.size());
    }
  }
}

TEST_CASE("max_message_bytes: settable within an MPI count", "[dist]") {
  const std::int64_t before = max_message_bytes();
  CHECK(before == std::int64_t{1} << 30);
  set_max_message_bytes(7);
  CHECK(max_message_bytes() == 7);
  set_max_message_bytes(before);
  CHECK_THROWS_AS(set_max_message_bytes(0), CommError);
  CHECK_THROWS_AS(set_max_message_bytes(std::int64_t{1} << 31), CommError);
  CHECK(max_message_bytes() == before);
}

TEST_CASE("local communicator: messages to itself match by tag, in order within a tag", "[dist]") {
  auto comm = make_local_communicator();
  REQUIRE(comm->rank() == 0);
  REQUIRE(comm->size() == 1);
  const std::vector<int> a{1, 2, 3}, b{4, 5, 6}, c{7, 8, 9};
  std::vector<int> ra(3), rb(3), rc(3);
  // Send before receive (tags 5, 5, 9), and receive before send (tag 2).
  Request sa = comm->isend(a.data(), 12, 0, 5);
  Request sb = comm->isend(b.data(), 12, 0, 5);
  Request rq_c = comm->irecv(rc.data(), 12, 0, 2);
  CHECK_FALSE(comm->test(rq_c));
  CHECK(rq_c.active());
  Request rq_b_first = comm->irecv(rb.data(), 12, 0, 5);  // the first message of tag 5: a
  Request rq_a = comm->irecv(ra.data(), 12, 0, 5);
  Request sc = comm->isend(c.data(), 12, 0, 2);
  comm->wait(rq_b_first);
  comm->wait(rq_a);
  CHECK(comm->test(rq_c));
  CHECK_FALSE(rq_c.active());
  for (Request* r : {&sa, &sb, &sc}) {
    CHECK(r->active());
    comm->wait(*r);
    CHECK_FALSE(r->active());
  }
  CHECK(rb == a);
  CHECK(ra == b);
  CHECK(rc == c);
  comm->wait(rq_a);  // inactive: no-op
  CHECK(comm->test(rq_a));
}

TEST_CASE("local communicator: the send copies its bytes at once", "[dist]") {
  auto comm = make_local_communicator();
  double x = 1.5, y = 0;
  Request s = comm->isend(&x, sizeof x, 0, 0);
  x = -3;
  Request r = comm->irecv(&y, sizeof y, 0, 0);
  comm->wait(r);
  comm->wait(s);
  CHECK(y == 1.5);
}

TEST_CASE("local communicator: size mismatch, unmatched wait, bad peer and tag are CommErrors", "[dist]") {
  auto comm = make_local_communicator();
  std::vector<char> buf(16);
  Request s = comm->isend(buf.data(), 8, 0, 3);
  Request r = comm->irecv(buf.data(), 16, 0, 3);
  std::string msg = comm_error_of([&] { comm->wait(r); });
  CHECK_THAT(msg, Contains("received 8 bytes, expected 16"));
  CHECK_FALSE(r.active());
  comm->wait(s);

  Request lonely = comm->irecv(buf.data(), 4, 0, 11);
  CHECK_THAT(comm_error_of([&] { comm->wait(lonely); }), Contains("tag 11") && Contains("never complete"));

  CHECK_THAT(comm_error_of([&] { comm->isend(buf.data(), 4, 1, 0); }), Contains("peer 1"));
  CHECK_THAT(comm_error_of([&] { comm->irecv(buf.data(), 4, -1, 0); }), Contains("peer -1"));
  CHECK_THAT(comm_error_of([&] { comm->isend(buf.data(), 4, 0, -2); }), Contains("tag -2"));
  CHECK_THAT(comm_error_of([&] { comm->isend(nullptr, 4, 0, 0); }), Contains("null buffer"));
  CHECK_THAT(comm_error_of([&] { comm->broadcast(buf.data(), 4, 1); }), Contains("root"));
  CHECK_THAT(comm_error_of([&] { comm->split(-1, 0); }), Contains("color"));
}

TEST_CASE("wait_all: waits in order; on an error the remaining requests are abandoned", "[dist]") {
  auto comm = make_local_communicator();
  int a = 1, b = 2, ra = 0, rb = 0;
  std::vector<Request> requests;
  requests.push_back(comm->irecv(&ra, sizeof ra, 0, 1));
  requests.push_back(comm->isend(&a, sizeof a, 0, 1));
  requests.push_back(Request());
  wait_all(*comm, requests);
  CHECK(ra == 1);
  requests.clear();
  requests.push_back(comm->isend(&b, sizeof b, 0, 2));
  requests.push_back(comm->irecv(&rb, sizeof rb, 0, 3));  // nothing is sent with tag 3
  requests.push_back(comm->irecv(&rb, sizeof rb, 0, 2));
  CHECK_THROWS_AS(wait_all(*comm, requests), CommError);
  for (const Request& r : requests) CHECK_FALSE(r.active());
}

TEST_CASE("local communicator: an abandoned receive does not take a later message", "[dist]") {
  auto comm = make_local_communicator();
  int got = 0, sent = 42;
  { Request dropped = comm->irecv(&got, sizeof got, 0, 7); }
  Request r = comm->irecv(&got, sizeof got, 0, 7);
  Request s = comm->isend(&sent, sizeof sent, 0, 7);
  comm->wait(r);
  comm->wait(s);
  CHECK(got == 42);
}

TEST_CASE("local communicator: collectives leave the data as it is; split gives another single process", "[dist]") {
  auto comm = make_local_communicator();
  std::vector<float> f{1.5f, -2.f};
  std::vector<double> d{3.25};
  comm->allreduce_sum(f.data(), 2);
  comm->allreduce_sum(d.data(), 1);
  comm->broadcast(d.data(), 8, 0);
  comm->barrier();
  CHECK(f == std::vector<float>{1.5f, -2.f});
  CHECK(d == std::vector<double>{3.25});
  auto part = comm->split(3, 0);
  CHECK(part->size() == 1);
  CHECK(part->rank() == 0);
  // The split communicator has its own messages.
  int x = 5, y = 0;
  Request s = comm->isend(&x, sizeof x, 0, 0);
  Request r = part->irecv(&y, sizeof y, 0, 0);
  CHECK_FALSE(part->test(r));
  Request s2 = part->isend(&x, sizeof x, 0, 0);
  part->wait(r);
  part->wait(s2);
  CHECK(y == 5);
  Request r2 = comm->irecv(&y, sizeof y, 0, 0);
  comm->wait(r2);
  comm->wait(s);
}

TEST_CASE("world: a single process unless launched by an MPI launcher", "[dist]") {
  if (world_is_mpi()) return;  // only under mpirun (the MPI tests cover that)
  CHECK(world().size() == 1);
  CHECK(world().rank() == 0);
  CHECK(&world() == &world());
}
