// The one atomic file writer of the project: temporary file, fsync, rename over the target, fsync of the directory.
//
// Guarantees of write_file_atomic(path, ...):
//  - readers (and a process started after a crash) see either the old content of `path` or the complete new one,
//    never a mix or a truncated file;
//  - once it returns, the new content and its directory entry are on stable storage (the file and its directory are
//    fsynced; a file system that cannot fsync directories, EINVAL/ENOTSUP, keeps the file fsync only);
//  - when it throws (IoError naming the file and the step that failed, or whatever `fill` throws), `path` is
//    untouched and the temporary file PATH.tmp is removed.
// Header-only so that every library (io, data, train) shares it without a new link dependency.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace mhc {

// Sequential writes into the temporary file of write_file_atomic.
class AtomicFileWriter {
 public:
  AtomicFileWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  void write(const void* data, std::size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, size);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw IoError("cannot write '" + path_ + "': " + std::strerror(errno));
      p += n;
      size -= static_cast<std::size_t>(n);
    }
  }
  void write(std::string_view text) { write(text.data(), text.size()); }

 private:
  int fd_;
  std::string path_;
};

// fsyncs the directory `dir` ("" = the current directory); IoError when it cannot, except on file systems that do
// not support fsync on directories.
inline void fsync_directory(const std::string& dir) {
  const std::string d = dir.empty() ? "." : dir;
  const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw IoError("cannot open directory '" + d + "' to fsync it: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL && err != ENOTSUP) {
    throw IoError("cannot fsync directory '" + d + "': " + std::strerror(err));
  }
}

// Writes the content `fill` produces to `path` atomically (see the guarantees above).
inline void write_file_atomic(const std::string& path, const std::function<void(AtomicFileWriter&)>& fill) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError("cannot create '" + tmp + "' (to write '" + path + "'): " + std::strerror(errno));
  bool fd_open = true;
  try {
    AtomicFileWriter writer(fd, tmp);
    fill(writer);
    if (::fsync(fd) != 0) throw IoError("cannot fsync '" + tmp + "': " + std::strerror(errno));
    fd_open = false;
    if (::close(fd) != 0) throw IoError("cannot close '" + tmp + "': " + std::strerror(errno));
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      throw IoError("cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(errno));
    }
  } catch (...) {
    if (fd_open) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  const std::size_t slash = path.find_last_of('/');
  fsync_directory(slash == std::string::npos ? "" : slash == 0 ? "/" : path.substr(0, slash));
}

inline void write_file_atomic(const std::string& path, std::string_view bytes) {
  write_file_atomic(path, [&](AtomicFileWriter& w) { w.write(bytes); });
}

}  // namespace mhc
