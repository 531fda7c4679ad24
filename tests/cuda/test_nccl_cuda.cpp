// [cuda][nccl] The NCCL communicator of one process on device 0: sums, broadcast, grouped transfers to itself,
// stream ordering, the errors it reports, split. Empty without NCCL.
#ifdef MHC_HAVE_NCCL

#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/stream.hpp"
#include "dist/communicator_nccl.hpp"
#include "support/device_bytes.hpp"

using namespace mhc;
using namespace mhc::dist;
using mhc::test::cuda_ok;
using mhc::test::DeviceBytes;
using Catch::Matchers::Contains;

namespace {

class Stream {
 public:
  Stream() { cuda_ok(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~Stream() { cudaStreamDestroy(stream_); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

// Stream-ordered host <-> device copies on `s`, the way kernels on the compute stream would produce and consume.
void upload(void* device, const void* host, std::int64_t bytes, cudaStream_t s) {
  cuda_ok(cudaMemcpyAsync(device, host, static_cast<std::size_t>(bytes), cudaMemcpyHostToDevice, s));
}
void download(void* host, const void* device, std::int64_t bytes, cudaStream_t s) {
  cuda_ok(cudaMemcpyAsync(host, device, static_cast<std::size_t>(bytes), cudaMemcpyDeviceToHost, s));
}

// Byte i of message k.
unsigned char pattern(std::int64_t k, std::int64_t i) {
  return static_cast<unsigned char>((k * 131 + i * 7 + i / 251) & 0xff);
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

// A one-process NCCL communicator on device 0 whose NCCL work runs on its own stream, with a separate compute stream
// as the thread's current stream: every check below goes through the cross-stream ordering.
struct Fixture {
  Stream comm_stream, compute;
  std::unique_ptr<Communicator> bootstrap = make_local_communicator();
  std::unique_ptr<NcclCommunicator> comm = make_nccl_communicator(*bootstrap, 0, comm_stream.get());
  StreamGuard on_compute{StreamHandle{compute.get()}};
};

// Sends transfers of these sizes to itself in one group, each checked after the compute stream waited for it.
void self_exchange(NcclCommunicator& comm, cudaStream_t compute, const std::vector<std::int64_t>& sizes) {
  std::vector<std::unique_ptr<DeviceBytes>> out, in;
  std::vector<std::vector<unsigned char>> sent(sizes.size()), got(sizes.size());
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    const auto n = static_cast<std::size_t>(sizes[k]);
    sent[k].resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      sent[k][i] = pattern(static_cast<std::int64_t>(k), static_cast<std::int64_t>(i));
    }
    got[k].assign(n, 0);
    out.push_back(std::make_unique<DeviceBytes>(sizes[k]));
    in.push_back(std::make_unique<DeviceBytes>(sizes[k]));
    upload(out[k]->get(), sent[k].data(), sizes[k], compute);
    cuda_ok(cudaMemsetAsync(in[k]->get(), 0, static_cast<std::size_t>(sizes[k]), compute));
  }
  std::vector<Request> sends, recvs;
  comm.group_begin();
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    recvs.push_back(comm.irecv(in[k]->get(), sizes[k], 0, static_cast<int>(k)));
    sends.push_back(comm.isend(out[k]->get(), sizes[k], 0, static_cast<int>(k)));
  }
  // Not enqueued yet: test() says not complete, wait() refuses.
  CHECK_FALSE(comm.test(recvs[0]));
  CHECK_THAT(comm_error_of([&] { comm.wait(recvs[0]); }), Contains("open group"));
  CHECK(recvs[0].active());
  comm.group_end();
  wait_all(comm, recvs);
  for (std::size_t k = 0; k < sizes.size(); ++k) download(got[k].data(), in[k]->get(), sizes[k], compute);
  cuda_ok(cudaStreamSynchronize(compute));
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    INFO("size " << sizes[k]);
    CHECK_FALSE(recvs[k].active());
    CHECK(got[k] == sent[k]);
  }
  // The sends finished with the receives; test() reports it without blocking.
  cuda_ok(cudaStreamSynchronize(comm.stream()));
  for (Request& s : sends) CHECK(comm.test(s));
  for (const Request& s : sends) CHECK_FALSE(s.active());
}

template <typename T>
void check_sum_unchanged(NcclCommunicator& comm, cudaStream_t compute) {
  const std::int64_t count = 1000;
  std::vector<T> values(static_cast<std::size_t>(count)), back(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) values[static_cast<std::size_t>(i)] = static_cast<T>(0.1 * i - 37.3);
  DeviceBytes d(count * static_cast<std::int64_t>(sizeof(T)));
  upload(d.get(), values.data(), count * static_cast<std::int64_t>(sizeof(T)), compute);
  comm.allreduce_sum(static_cast<T*>(d.get()), count);
  download(back.data(), d.get(), count * static_cast<std::int64_t>(sizeof(T)), compute);
  cuda_ok(cudaStreamSynchronize(compute));
  CHECK(std::memcmp(back.data(), values.data(), values.size() * sizeof(T)) == 0);
}

}  // namespace

TEST_CASE("NCCL communicator of one process: rank, size, sums and broadcast", "[cuda][nccl]") {
  Fixture f;
  NcclCommunicator& comm = *f.comm;
  CHECK(comm.rank() == 0);
  CHECK(comm.size() == 1);
  CHECK(comm.device() == 0);
  CHECK(comm.stream() == f.comm_stream.get());

  check_sum_unchanged<float>(comm, f.compute.get());
  check_sum_unchanged<double>(comm, f.compute.get());

  std::vector<unsigned char> bytes(4097), back(4097);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = pattern(3, static_cast<std::int64_t>(i));
  DeviceBytes d(4097);
  upload(d.get(), bytes.data(), 4097, f.compute.get());
  comm.broadcast(d.get(), 4097, 0);
  download(back.data(), d.get(), 4097, f.compute.get());
  cuda_ok(cudaStreamSynchronize(f.compute.get()));
  CHECK(back == bytes);

  comm.barrier();
  comm.allreduce_sum(static_cast<float*>(nullptr), 0);  // nothing to do
  CHECK_THAT(comm_error_of([&] { comm.broadcast(d.get(), 4, 1); }), Contains("root"));
}

TEST_CASE("NCCL transfers to itself in a group deliver the bytes, in parts too", "[cuda][nccl]") {
  Fixture f;
  SECTION("whole messages") { self_exchange(*f.comm, f.compute.get(), {0, 1, 7, 4096, (1 << 20) + 3}); }
  SECTION("messages over the limit travel in parts") {
    MessageLimit limit(1000);
    self_exchange(*f.comm, f.compute.get(), {999, 1000, 1001, 2000, 4097});
  }
}

TEST_CASE("NCCL communicator: misuse is a CommError and enqueues nothing", "[cuda][nccl]") {
  Fixture f;
  NcclCommunicator& comm = *f.comm;
  DeviceBytes a(64), b(64);
  std::vector<unsigned char> host(64);

  CHECK_THAT(comm_error_of([&] { comm.isend(a.get(), 64, 1, 0); }), Contains("peer 1 out of range"));
  CHECK_THAT(comm_error_of([&] { comm.irecv(a.get(), 64, -1, 0); }), Contains("peer -1 out of range"));
  CHECK_THAT(comm_error_of([&] { comm.isend(a.get(), 64, 0, -2); }), Contains("tag -2"));
  CHECK_THAT(comm_error_of([&] { comm.isend(host.data(), 64, 0, 0); }), Contains("device memory"));
  CHECK_THAT(comm_error_of([&] { comm.allreduce_sum(reinterpret_cast<float*>(host.data()), 16); }),
             Contains("device memory"));
  CHECK_THAT(comm_error_of([&] { comm.isend(a.get(), 64, 0, 0); }), Contains("group_begin"));
  CHECK_THAT(comm_error_of([&] { comm.group_end(); }), Contains("no group is open"));

  SECTION("a receive of another size than the send") {
    comm.group_begin();
    Request s = comm.isend(a.get(), 64, 0, 5);
    Request r = comm.irecv(b.get(), 32, 0, 5);
    CHECK_THAT(comm_error_of([&] { comm.group_end(); }), Contains("differ"));
    CHECK_THAT(comm_error_of([&] { comm.wait(r); }), Contains("was not enqueued"));
    CHECK_FALSE(r.active());
    CHECK_THAT(comm_error_of([&] { comm.test(s); }), Contains("was not enqueued"));
  }
  SECTION("a receive with another tag than the send") {
    comm.group_begin();
    Request s = comm.isend(a.get(), 64, 0, 5);
    Request r = comm.irecv(b.get(), 64, 0, 6);
    CHECK_THAT(comm_error_of([&] { comm.group_end(); }), Contains("tag"));
  }
  SECTION("a send without its receive in the group") {
    comm.group_begin();
    Request s = comm.isend(a.get(), 64, 0, 5);
    CHECK_THAT(comm_error_of([&] { comm.group_end(); }), Contains("1 isend(s) to itself but 0 irecv(s)"));
  }
  SECTION("groups do not nest, collectives wait for the group's end") {
    comm.group_begin();
    CHECK_THAT(comm_error_of([&] { comm.group_begin(); }), Contains("already open"));
    CHECK_THAT(comm_error_of([&] { comm.allreduce_sum(static_cast<float*>(a.get()), 16); }), Contains("group"));
    CHECK_THAT(comm_error_of([&] { comm.broadcast(a.get(), 64, 0); }), Contains("group"));
    CHECK_THAT(comm_error_of([&] { comm.barrier(); }), Contains("group"));
    CHECK_THAT(comm_error_of([&] { comm.split(0, 0); }), Contains("group"));
    comm.group_end();  // an empty group is fine
  }
  // After every failure above the communicator still works.
  self_exchange(comm, f.compute.get(), {64});
}

TEST_CASE("NCCL communicator: split gives a working communicator of the same device and stream", "[cuda][nccl]") {
  Fixture f;
  std::unique_ptr<Communicator> part = f.comm->split(0, 7);
  auto* nccl_part = dynamic_cast<NcclCommunicator*>(part.get());
  REQUIRE(nccl_part != nullptr);
  CHECK(part->rank() == 0);
  CHECK(part->size() == 1);
  CHECK(nccl_part->device() == 0);
  CHECK(nccl_part->stream() == f.comm_stream.get());
  check_sum_unchanged<float>(*nccl_part, f.compute.get());
  self_exchange(*nccl_part, f.compute.get(), {3, 100});
  CHECK_THAT(comm_error_of([&] { f.comm->split(-1, 0); }), Contains("color"));
}

TEST_CASE("NCCL communicator on a device that does not exist is a CommError", "[cuda][nccl]") {
  auto bootstrap = make_local_communicator();
  CHECK_THAT(comm_error_of([&] { make_nccl_communicator(*bootstrap, 1 << 20, nullptr); }), Contains("does not exist"));
}

#endif  // MHC_HAVE_NCCL
