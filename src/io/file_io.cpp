#include "io/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "neural_arch/error.hpp"

namespace neural_arch::io::detail {

namespace {
WriteHook& write_hook() {
  static WriteHook hook;
  return hook;
}

constexpr size_t kChunk = size_t(1) << 20;

std::string parent_dir(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}
}  // namespace

std::string errno_string(int e) {
  char buf[256];
  // GNU strerror_r returns the message pointer (which may or may not be buf).
  return std::string(strerror_r(e, buf, sizeof buf));
}

void set_write_hook(WriteHook hook) { write_hook() = std::move(hook); }

AtomicFileWriter::AtomicFileWriter(std::string path, const char* op)
    : path_(std::move(path)), tmp_(path_ + ".tmp." + std::to_string(::getpid())), op_(op) {
  NA_CHECK(!path_.empty(), op_, "empty file path");
  // O_TRUNC rather than O_EXCL: a stale file of this name can only come from a crashed
  // process that had our pid, and its contents are garbage by definition.
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd_ < 0) {
    const int e = errno;
    neural_arch::detail::throw_error(op_, "cannot create '", tmp_, "' to save '", path_,
                                     "': ", errno_string(e));
  }
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFileWriter::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const size_t want = std::min(n, kChunk);
    const ssize_t got = ::write(fd_, p, want);
    if (got < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      neural_arch::detail::throw_error(op_, "cannot write '", tmp_, "' (saving '", path_,
                                       "'): ", errno_string(e));
    }
    p += got;
    n -= static_cast<size_t>(got);
    written_ += static_cast<uint64_t>(got);
    if (write_hook()) write_hook()(tmp_, written_);
  }
}

void AtomicFileWriter::commit() {
  NA_CHECK(fd_ >= 0, op_, "file '", path_, "' already committed");
  if (::fsync(fd_) != 0) {
    const int e = errno;
    neural_arch::detail::throw_error(op_, "cannot fsync '", tmp_, "' (saving '", path_,
                                     "'): ", errno_string(e));
  }
  if (::close(fd_) != 0) {
    const int e = errno;
    fd_ = -1;
    ::unlink(tmp_.c_str());
    neural_arch::detail::throw_error(op_, "cannot close '", tmp_, "' (saving '", path_,
                                     "'): ", errno_string(e));
  }
  fd_ = -1;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp_.c_str());
    neural_arch::detail::throw_error(op_, "cannot rename '", tmp_, "' to '", path_, "': ", errno_string(e));
  }
  // Without this the rename itself may not survive a power loss.
  const std::string dir = parent_dir(path_);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    const int e = errno;
    neural_arch::detail::throw_error(op_, "saved '", path_, "' but cannot open its directory '", dir,
                                     "' to make the rename durable: ", errno_string(e));
  }
  const int rc = ::fsync(dfd);
  const int e = errno;
  ::close(dfd);
  // Some file systems cannot fsync a directory (EINVAL); the rename is as durable as they allow.
  if (rc != 0 && e != EINVAL)
    neural_arch::detail::throw_error(op_, "saved '", path_, "' but cannot fsync its directory '", dir,
                                     "': ", errno_string(e));
}

InputFile::InputFile(const std::string& path, const char* op) : path_(path), op_(op) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    const int e = errno;
    neural_arch::detail::throw_error(op_, "cannot open '", path, "': ", errno_string(e));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int e = errno;
    ::close(fd_);
    neural_arch::detail::throw_error(op_, "cannot stat '", path, "': ", errno_string(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    neural_arch::detail::throw_error(op_, "'", path, "' is not a regular file");
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

void InputFile::read_at(uint64_t offset, void* dst, uint64_t n) const {
  char* p = static_cast<char*>(dst);
  uint64_t done = 0;
  while (done < n) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(n - done, uint64_t(1) << 30));
    const ssize_t got = ::pread(fd_, p + done, want, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      neural_arch::detail::throw_error(op_, "cannot read '", path_, "': ", errno_string(e));
    }
    if (got == 0)
      neural_arch::detail::throw_error(op_, "'", path_, "' is truncated: wanted bytes [", offset, ", ",
                                       offset + n, ") but the file ends at ", offset + done);
    done += static_cast<uint64_t>(got);
  }
}

}  // namespace neural_arch::io::detail
