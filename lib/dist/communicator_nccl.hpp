// The NCCL communicator (built only with CUDA and NCCL): GPU-to-GPU bytes, sums and broadcasts, stream-ordered.
#pragma once

#include <cuda_runtime_api.h>

#include <memory>

#include "dist/communicator.hpp"

namespace mhc::dist {

// A Communicator whose ranks are GPUs (one per process), on NCCL. What differs from the MPI communicator:
//
// Buffers. Every data pointer (isend, irecv, allreduce_sum, broadcast) must be device (or managed) memory on
// device(); anything else is a CommError (checked with cudaPointerGetAttributes).
//
// Streams. All NCCL work runs on stream() (the comm_stream given at creation). Before enqueuing anything, stream()
// is made to wait (cudaStreamWaitEvent) for the work already enqueued on the calling thread's current stream
// (mhc::current_stream(), lib/core/stream.hpp; null = CUDA's default stream): send buffers may have been written,
// and receive buffers last read, by work on that stream without any host synchronisation.
//
// Completion is stream-ordered, the host does not block:
//   - wait(r) makes the calling thread's current stream wait (cudaStreamWaitEvent) for an event recorded on
//     stream() after the transfer's group, and returns at once. Work enqueued on that stream afterwards sees the
//     received bytes / may overwrite the sent buffer; the host itself must not read or free the buffers before
//     that stream has reached this point (e.g. cudaStreamSynchronize). Inactive afterwards. Never reports a size
//     mismatch.
//   - test(r) asks whether the transfer has finished on the device (cudaEventQuery): true = the bytes have arrived
//     (then inactive; safe for any stream and the host), false = not yet. It also reports NCCL's asynchronous error
//     (a failed peer, a network error) as CommError.
//   - allreduce_sum and broadcast enqueue the operation on stream() and make the current stream wait for it; they
//     return at once. Of the data calls only barrier() blocks the host (see there); creation and split() do too.
//   - Destroying an active Request cancels nothing: the transfer still happens on stream(); its buffer must stay
//     valid until stream() has passed it.
//
// Matching. NCCL carries neither tags nor sizes: the k-th send from rank A to rank B matches the k-th receive on B
// from A, in posting order, whatever the tags (checked: 0 <= tag; otherwise ignored). Both sides must post their
// transfers between a pair of ranks in the same order and with the same byte counts. A size mismatch between two
// ranks is undefined in NCCL (typically the streams of both hang; test() may then report NCCL's error) and can not
// be detected here. Transfers to itself (peer == rank()) are checked: they must be posted in one group, the k-th
// send to itself and the k-th receive from itself must have the same byte count and tag, else group_end() throws
// CommError and enqueues nothing.
//
// Groups. A GPU that both sends to and receives from a peer must post those transfers in one group, or the GPUs
// deadlock: each NCCL send/receive outside a group blocks its stream until the peer's matching operation runs, so
// "A: send to B, then receive from B" while "B: send to A, then receive from A" never finishes. Hence:
//   group_begin(); isend(...); irecv(...); ...; group_end();
// isend/irecv between group_begin and group_end are only recorded (their Requests are returned at once);
// group_end() checks them and enqueues them all as one ncclGroupStart/ncclGroupEnd (each transfer split into
// message_chunks(bytes, max_message_bytes()) parts of ncclUint8, the same limit on every rank; empty parts are
// skipped), then records one event that every Request of the group waits for. Outside a group every isend/irecv
// is enqueued at once as a group of its own (fine for a one-directional transfer; a transfer to itself always needs
// a group). Groups do not nest;
// while a group is open, collectives, barrier and split throw CommError; wait() on a request of the open group
// throws CommError (it was not enqueued yet; the request stays active), test() returns false. The simplest correct
// use at a pipeline stage boundary: post every receive and send of the boundary inside one group, then wait on them.
//
// Sums. allreduce_sum is ncclAllReduce in place (ncclFloat / ncclDouble, ncclSum). Every rank gets identical bits
// (NCCL's algorithms reduce once and then distribute the result), and the result is reproducible from run to run
// for the same ranks, topology, NCCL version, environment and count, because NCCL picks the algorithm (ring or
// tree), protocol and channel count deterministically from those. It is NOT the rank-ordered sum
// ((x0 + x1) + x2) + ... of the MPI communicator: the order of the additions depends on the algorithm and on the
// element's position (ring: each chunk's sum starts at another rank), so results differ in the last bits from the
// MPI build and may change when any of those inputs changes. To pin the order across runs, set NCCL_ALGO=Ring and
// NCCL_PROTO=Simple (optionally NCCL_MIN_NCHANNELS = NCCL_MAX_NCHANNELS) in the environment of every rank.
//
// Not thread-safe: one host thread uses a communicator. Each call makes device() the thread's current CUDA device
// while it works and restores the previous one.
class NcclCommunicator : public Communicator {
 public:
  // Opens a group of transfers (see above); CommError when one is already open.
  virtual void group_begin() = 0;
  // Checks the transfers recorded since group_begin and enqueues them as one NCCL group; CommError when no group
  // is open, or when the transfers to itself do not pair up (then nothing is enqueued and every Request of the
  // group throws CommError on wait). The group is closed afterwards in every case.
  virtual void group_end() = 0;
  virtual int device() const = 0;
  virtual cudaStream_t stream() const = 0;
  // barrier(): a one-element ncclAllReduce on stream() after the current stream's work, then the host waits for
  // stream() (polling cudaStreamQuery; NCCL's asynchronous error ends it with CommError): returns on each rank once
  // every rank has reached its barrier and the work every rank enqueued before it (on its current stream and on
  // stream()) has finished.
  // split(color, key): ncclCommSplit; collective over this communicator (blocks the host until every rank joined);
  // the new one is an NcclCommunicator on the same device and stream whose ranks are ordered by key (NCCL breaks
  // ties by the rank here, like MPI_Comm_split). color must be >= 0.
};

// Creates the NCCL communicator of the ranks of `bootstrap` (a host communicator: MPI or local; collective over it,
// blocking the host until every rank has joined): rank 0 makes the ncclUniqueId, bootstrap.broadcast hands it to
// the others, then each rank calls ncclCommInitRank(bootstrap.size(), id, bootstrap.rank()) on `device`. The new
// communicator has the same ranks as bootstrap and does not refer to it afterwards. comm_stream (a stream on
// `device`, not owned; null = the default stream) must outlive it. Throws CommError when CUDA or NCCL fails; on
// every rank when some rank's device does not exist or rank 0 could not make the id (checked over bootstrap before
// any rank enters ncclCommInitRank).
std::unique_ptr<NcclCommunicator> make_nccl_communicator(Communicator& bootstrap, int device, cudaStream_t comm_stream);

}  // namespace mhc::dist
