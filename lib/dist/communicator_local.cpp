// The single-process communicator: messages to itself matched by tag in memory; collectives are no-ops.
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "dist/communicator.hpp"
#include "dist/communicator_impl.hpp"

namespace mhc::dist {

namespace {

using detail::RequestAccess;

// A posted receive: where the bytes go and, once a send matched it, the outcome.
struct RecvSlot {
  void* data = nullptr;
  std::int64_t bytes = 0;
  int tag = 0;
  bool matched = false;
  bool abandoned = false;  // its Request was destroyed before completion
  std::string error;       // non-empty when the matched message had another size
};

struct LocalSendState : detail::RequestState {};

struct LocalRecvState : detail::RequestState {
  std::shared_ptr<RecvSlot> slot;
  explicit LocalRecvState(std::shared_ptr<RecvSlot> s) : slot(std::move(s)) {}
  ~LocalRecvState() override { slot->abandoned = true; }
};

void deliver(RecvSlot& slot, const void* data, std::int64_t bytes) {
  slot.matched = true;
  if (bytes != slot.bytes) {
    slot.error = mhc::detail::concat("irecv from rank 0 with tag ", slot.tag, ": received ", bytes, " bytes, expected ",
                                slot.bytes, " (the send and the receive differ in size)");
    return;
  }
  if (bytes > 0) std::memcpy(slot.data, data, static_cast<std::size_t>(bytes));
}

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }

  Request isend(const void* data, std::int64_t bytes, int peer, int tag) override {
    check_args("isend", data, bytes, peer, tag);
    auto& waiting = pending_[tag];
    while (!waiting.empty() && waiting.front()->abandoned) waiting.pop_front();
    if (!waiting.empty()) {
      deliver(*waiting.front(), data, bytes);
      waiting.pop_front();
    } else {
      const auto* p = static_cast<const unsigned char*>(data);
      unmatched_[tag].emplace_back(p, p + bytes);
    }
    return RequestAccess::make(std::make_unique<LocalSendState>());
  }

  Request irecv(void* data, std::int64_t bytes, int peer, int tag) override {
    check_args("irecv", data, bytes, peer, tag);
    auto slot = std::make_shared<RecvSlot>();
    slot->data = data;
    slot->bytes = bytes;
    slot->tag = tag;
    auto& messages = unmatched_[tag];
    if (!messages.empty()) {
      deliver(*slot, messages.front().data(), static_cast<std::int64_t>(messages.front().size()));
      messages.pop_front();
    } else {
      pending_[tag].push_back(slot);
    }
    return RequestAccess::make(std::make_unique<LocalRecvState>(std::move(slot)));
  }

  void wait(Request& r) override {
    if (!r.active()) return;
    if (auto* recv = dynamic_cast<LocalRecvState*>(RequestAccess::get(r)); recv != nullptr && !recv->slot->matched) {
      throw CommError(mhc::detail::concat("wait: the irecv with tag ", recv->slot->tag,
                                     " has no matching isend in this single process; it would never complete"));
    }
    finish(r);
  }

  bool test(Request& r) override {
    if (!r.active()) return true;
    if (auto* recv = dynamic_cast<LocalRecvState*>(RequestAccess::get(r)); recv != nullptr && !recv->slot->matched) {
      return false;
    }
    finish(r);
    return true;
  }

  void allreduce_sum(float* data, std::int64_t count) override { detail::check_buffer("allreduce_sum", data, count); }
  void allreduce_sum(double* data, std::int64_t count) override { detail::check_buffer("allreduce_sum", data, count); }
  void broadcast(void* data, std::int64_t bytes, int root) override {
    detail::check_buffer("broadcast", data, bytes);
    detail::check_peer("broadcast (root)", root, 1);
  }
  void barrier() override {}

  std::unique_ptr<Communicator> split(int color, int /*key*/) override {
    if (color < 0) throw CommError(mhc::detail::concat("split: color must be >= 0, got ", color));
    return make_local_communicator();
  }

 private:
  static void check_args(const char* op, const void* data, std::int64_t bytes, int peer, int tag) {
    detail::check_buffer(op, data, bytes);
    detail::check_peer(op, peer, 1);
    if (tag < 0) throw CommError(mhc::detail::concat(op, ": tag ", tag, " is negative"));
  }
  // Marks the request complete and reports a size mismatch of its receive.
  static void finish(Request& r) {
    std::string error;
    if (auto* recv = dynamic_cast<LocalRecvState*>(RequestAccess::get(r)); recv != nullptr) error = recv->slot->error;
    RequestAccess::clear(r);
    if (!error.empty()) throw CommError(error);
  }

  std::map<int, std::deque<std::vector<unsigned char>>> unmatched_;  // sent, not yet received, per tag
  std::map<int, std::deque<std::shared_ptr<RecvSlot>>> pending_;     // posted receives not yet matched, per tag
};

}  // namespace

std::unique_ptr<Communicator> make_local_communicator() { return std::make_unique<LocalCommunicator>(); }

}  // namespace mhc::dist
