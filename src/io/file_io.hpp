// File plumbing shared by the savers and loaders: crash-safe writes and bounds-checked reads.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace neural_arch::io::detail {

/// Writes a file so that a crash at any moment leaves either the previous file or the
/// complete new one under `path`, never a mix: the bytes go to "<path>.tmp.<pid>", which
/// commit() fsyncs, renames over `path`, and makes durable by fsyncing the directory.
/// Destroying an uncommitted writer (an exception on the way) removes the temporary file.
class AtomicFileWriter {
 public:
  AtomicFileWriter(std::string path, const char* op);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t n);
  void commit();
  const std::string& temp_path() const { return tmp_; }

 private:
  std::string path_, tmp_;
  const char* op_;
  int fd_ = -1;
  uint64_t written_ = 0;
};

/// Test hook: when set, called after every chunk (at most 1 MiB) an AtomicFileWriter
/// writes, with the temporary path and the bytes written to it so far. Lets a test stop a
/// process in the middle of a save at a chosen point. Not thread-safe; tests only.
using WriteHook = std::function<void(const std::string& temp_path, uint64_t bytes_written)>;
void set_write_hook(WriteHook hook);

/// A file opened for reading. read_at() reads exactly n bytes or throws naming the file
/// (a file that shrinks while it is read is reported as truncated, never read past).
class InputFile {
 public:
  InputFile(const std::string& path, const char* op);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  void read_at(uint64_t offset, void* dst, uint64_t n) const;

 private:
  std::string path_;
  const char* op_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

/// strerror(e) without the thread-safety problem of strerror.
std::string errno_string(int e);

}  // namespace neural_arch::io::detail
