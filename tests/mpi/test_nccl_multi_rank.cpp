// [mpi][nccl] The NCCL communicator across ranks, one GPU each (bootstrap: the MPI world). Part of mhc_mpi_tests in a
// CUDA + NCCL build (empty otherwise); on a machine with a GPU per rank: `mpiexec -n 2 mhc_mpi_tests "[nccl]"` (or
// -n 4). Every test case returns early on every rank when some rank sees fewer GPUs than the ranks on its node would
// need (rank r uses device r % devices, so devices >= ranks): CI runs them that way.
#ifdef MHC_HAVE_NCCL

#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "core/stream.hpp"
#include "dist/communicator_nccl.hpp"
#include "support/device_bytes.hpp"

using namespace mhc;
using namespace mhc::dist;
using mhc::test::cuda_ok;
using mhc::test::DeviceBytes;

namespace {

unsigned char pattern(int from, std::int64_t k, std::int64_t i) {
  return static_cast<unsigned char>((from * 131 + k * 17 + i * 7 + i / 251) & 0xff);
}

// Whether every rank has a GPU of its own (agreed over the world).
bool enough_gpus() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess) devices = 0;
  double short_of_gpus = devices >= world().size() ? 0.0 : 1.0;
  world().allreduce_sum(&short_of_gpus, 1);
  return short_of_gpus == 0.0;
}

// The NCCL communicator of the world on device rank % devices, its own stream, and a compute stream made current.
struct Fixture {
  cudaStream_t comm_stream = nullptr, compute = nullptr;
  std::unique_ptr<NcclCommunicator> comm;
  std::unique_ptr<StreamGuard> on_compute;
  Fixture() {
    int devices = 1;
    cuda_ok(cudaGetDeviceCount(&devices));
    const int device = world().rank() % devices;
    cuda_ok(cudaSetDevice(device));
    cuda_ok(cudaStreamCreateWithFlags(&comm_stream, cudaStreamNonBlocking));
    cuda_ok(cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking));
    comm = make_nccl_communicator(world(), device, comm_stream);
    on_compute = std::make_unique<StreamGuard>(StreamHandle{compute});
  }
  ~Fixture() {
    on_compute.reset();
    comm.reset();
    cudaStreamDestroy(compute);
    cudaStreamDestroy(comm_stream);
  }
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;
};

// Every rank sends to `to` and receives from `from` these sizes, all in one group, then checks the bytes.
void exchange(Fixture& f, int to, int from, const std::vector<std::int64_t>& sizes) {
  NcclCommunicator& comm = *f.comm;
  std::vector<std::unique_ptr<DeviceBytes>> out, in;
  std::vector<std::vector<unsigned char>> got(sizes.size());
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    std::vector<unsigned char> bytes(static_cast<std::size_t>(sizes[k]));
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      bytes[i] = pattern(comm.rank(), static_cast<std::int64_t>(k), static_cast<std::int64_t>(i));
    }
    out.push_back(std::make_unique<DeviceBytes>(sizes[k]));
    in.push_back(std::make_unique<DeviceBytes>(sizes[k]));
    cuda_ok(cudaMemcpy(out[k]->get(), bytes.data(), bytes.size(), cudaMemcpyHostToDevice));
    got[k].assign(bytes.size(), 0);
  }
  std::vector<Request> requests;
  comm.group_begin();
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    requests.push_back(comm.isend(out[k]->get(), sizes[k], to, static_cast<int>(k)));
    requests.push_back(comm.irecv(in[k]->get(), sizes[k], from, static_cast<int>(k)));
  }
  comm.group_end();
  wait_all(comm, requests);
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    cuda_ok(cudaMemcpyAsync(got[k].data(), in[k]->get(), got[k].size(), cudaMemcpyDeviceToHost, f.compute));
  }
  cuda_ok(cudaStreamSynchronize(f.compute));
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    std::int64_t wrong = 0;
    for (std::size_t i = 0; i < got[k].size(); ++i) {
      wrong += got[k][i] != pattern(from, static_cast<std::int64_t>(k), static_cast<std::int64_t>(i));
    }
    INFO("size " << sizes[k] << " from rank " << from);
    CHECK(wrong == 0);
  }
}

}  // namespace

TEST_CASE("NCCL ring and pairwise exchanges in one group", "[mpi][nccl]") {
  if (!enough_gpus()) return;
  Fixture f;
  const int r = f.comm->rank(), n = f.comm->size();
  exchange(f, (r + 1) % n, (r + n - 1) % n, {0, 1, 7, 4096, (1 << 20) + 3});
  // Both directions with one peer (would deadlock without the group); an odd last rank talks to itself.
  const int partner = (r % 2 == 0) ? (r + 1 < n ? r + 1 : r) : r - 1;
  exchange(f, partner, partner, {5, 70000});
  const std::int64_t saved = max_message_bytes();
  set_max_message_bytes(1000);
  exchange(f, (r + 1) % n, (r + n - 1) % n, {999, 1000, 1001, 4097});
  set_max_message_bytes(saved);
  f.comm->barrier();
}

TEST_CASE("NCCL sums: exact values, the same bits on every rank; broadcast from the last rank", "[mpi][nccl]") {
  if (!enough_gpus()) return;
  Fixture f;
  NcclCommunicator& comm = *f.comm;
  const int r = comm.rank(), n = comm.size();
  const std::int64_t count = 100000;
  std::vector<double> x(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) x[static_cast<std::size_t>(i)] = r + 0.5 * static_cast<double>(i % 97);
  DeviceBytes d(count * 8);
  cuda_ok(cudaMemcpy(d.get(), x.data(), x.size() * 8, cudaMemcpyHostToDevice));
  comm.allreduce_sum(static_cast<double*>(d.get()), count);
  std::vector<double> sum(x.size()), first(x.size());
  cuda_ok(cudaMemcpyAsync(sum.data(), d.get(), sum.size() * 8, cudaMemcpyDeviceToHost, f.compute));
  cuda_ok(cudaStreamSynchronize(f.compute));
  std::int64_t wrong = 0;  // small integers and halves: every order of additions is exact
  for (std::int64_t i = 0; i < count; ++i) {
    const double expected = n * (n - 1) / 2.0 + n * 0.5 * static_cast<double>(i % 97);
    wrong += sum[static_cast<std::size_t>(i)] != expected;
  }
  CHECK(wrong == 0);
  first = sum;
  world().broadcast(first.data(), count * 8, 0);  // over MPI, host memory
  CHECK(std::memcmp(first.data(), sum.data(), sum.size() * 8) == 0);

  std::vector<unsigned char> bytes(4097), back(4097);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = pattern(r, 0, static_cast<std::int64_t>(i));
  DeviceBytes b(4097);
  cuda_ok(cudaMemcpy(b.get(), bytes.data(), bytes.size(), cudaMemcpyHostToDevice));
  comm.broadcast(b.get(), 4097, n - 1);
  cuda_ok(cudaMemcpyAsync(back.data(), b.get(), back.size(), cudaMemcpyDeviceToHost, f.compute));
  cuda_ok(cudaStreamSynchronize(f.compute));
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = pattern(n - 1, 0, static_cast<std::int64_t>(i));
  CHECK(back == bytes);
}

TEST_CASE("NCCL split: even and odd ranks, ordered by key", "[mpi][nccl]") {
  if (!enough_gpus()) return;
  Fixture f;
  const int r = f.comm->rank(), n = f.comm->size();
  std::unique_ptr<Communicator> part = f.comm->split(r % 2, -r);  // reversed order within each color
  const int members = (n - r % 2 + 1) / 2;
  CHECK(part->size() == members);
  CHECK(part->rank() == members - 1 - r / 2);
  DeviceBytes d(sizeof(float));
  const float one = 1.0f;
  float total = 0.0f;
  cuda_ok(cudaMemcpy(d.get(), &one, sizeof(float), cudaMemcpyHostToDevice));
  part->allreduce_sum(static_cast<float*>(d.get()), 1);
  cuda_ok(cudaMemcpyAsync(&total, d.get(), sizeof(float), cudaMemcpyDeviceToHost, f.compute));
  cuda_ok(cudaStreamSynchronize(f.compute));
  CHECK(total == static_cast<float>(members));
}

#endif  // MHC_HAVE_NCCL
