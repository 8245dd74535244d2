// safetensors, .npy and checkpoint I/O: round trips for every dtype, the exact file formats,
// every kind of malformed or hostile file, and crash safety of saving (a process killed in
// the middle of a save leaves the previous checkpoint intact).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>

#include "io/file_io.hpp"
#include "neural_arch/io/checkpoint.hpp"
#include "neural_arch/io/npy.hpp"
#include "neural_arch/io/safetensors.hpp"
#include "neural_arch/ops.hpp"
#include "test_util.hpp"

namespace na = neural_arch;
namespace fs = std::filesystem;
using na::Tensor;

namespace {

using na_test::error_of;
using na_test::read_bytes;
using na_test::TempDir;
using na_test::write_bytes;

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// A safetensors file from a header text and a data section, as the format defines it.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

std::string float_bytes(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

// The bytes of a tensor in row-major order.
std::string tensor_bytes(const Tensor& t) {
  Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.raw_data()),
                     static_cast<size_t>(c.numel()) * c.element_size());
}

void expect_same_tensor(const Tensor& got, const Tensor& want, const std::string& name) {
  ASSERT_TRUE(got.defined()) << name;
  EXPECT_EQ(got.dtype(), want.dtype()) << name;
  EXPECT_EQ(got.shape(), want.shape()) << name;
  EXPECT_TRUE(got.is_contiguous()) << name;
  EXPECT_EQ(tensor_bytes(got), tensor_bytes(want)) << name;
}

// One tensor of every dtype, with awkward shapes: 0-d, empty, non-contiguous.
na::nn::StateDict every_dtype() {
  na::Generator gen(7);
  Tensor f32 = na::randn({3, 5}, {}, &gen);
  return {
      {"f32", f32},
      {"f64", na::randn({4}, na::kFloat64, &gen)},
      {"f16", na::randn({2, 3}, {}, &gen).to(na::kFloat16)},
      {"bf16", na::randn({2, 2, 2}, {}, &gen).to(na::kBFloat16)},
      {"i32", na::randint(-1000, 1000, {7}, na::kInt32, &gen)},
      {"i64", na::tensor<int64_t>({INT64_MIN, -1, 0, 1, INT64_MAX})},
      {"u8", na::randint(0, 256, {2, 8}, na::kUInt8, &gen)},
      {"bool", na::gt(na::randn({9}, {}, &gen), na::scalar_tensor(0.0))},
      {"scalar", na::scalar_tensor(3.25, na::kFloat64)},
      {"empty", na::zeros({0, 3})},
      {"transposed", f32.t()},
  };
}

// A string of exactly the literal's bytes, embedded zeros included.
template <size_t N> std::string B(const char (&s)[N]) { return std::string(s, N - 1); }

}  // namespace

// ------------------------------------------------------------------ safetensors

TEST(Safetensors, RoundTripEveryDtypeWithMetadata) {
  TempDir dir;
  const auto sd = every_dtype();
  const na::io::Metadata meta = {{"step", "42"},
                                 {"note", "quotes \" backslash \\ newline \n tab \t"},
                                 {"unicode", "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93"},
                                 {"empty", ""}};
  const std::string path = dir.file("all.safetensors");
  na::io::save_safetensors(path, sd, meta);
  const auto f = na::io::load_safetensors(path);
  ASSERT_EQ(f.tensors.size(), sd.size());
  for (size_t i = 0; i < sd.size(); ++i) {
    EXPECT_EQ(f.tensors[i].first, sd[i].first) << "saved order is kept";
    expect_same_tensor(f.tensors[i].second, sd[i].second, sd[i].first);
  }
  EXPECT_EQ(f.metadata, meta);
  EXPECT_TRUE(f.contains("bf16"));
  EXPECT_EQ(tensor_bytes(f.at("u8")), tensor_bytes(sd[6].second));
  EXPECT_NE(error_of([&] { f.at("nope"); }).find("no tensor named 'nope'"), std::string::npos);
  // Nothing but the file itself is left in the directory.
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"all.safetensors"});
}

TEST(Safetensors, FileLayoutFollowsTheFormat) {
  TempDir dir;
  const std::string path = dir.file("layout.safetensors");
  // A u8 first and an f64 second: the writer may reorder the data section for alignment.
  na::io::save_safetensors(path, {{"a", na::ones({3}, na::kUInt8)}, {"b", na::ones({2}, na::kFloat64)}},
                           {{"k", "v"}});
  const std::string bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u) << "header padded so the data section is 8-byte aligned";
  EXPECT_EQ(bytes[8], '{');
  EXPECT_EQ(bytes.size(), 8 + n + 3 + 16);
  const auto h = na::io::read_safetensors_header(path);
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].name, "a");
  EXPECT_EQ(h.tensors[1].name, "b");
  for (const auto& t : h.tensors)
    EXPECT_EQ(t.offset % na::element_size(t.dtype), 0u) << t.name << " is aligned";
  EXPECT_EQ(h.metadata.at("k"), "v");
}

TEST(Safetensors, ReadsAHandWrittenFile) {
  // Written by hand from the format description, independently of save_safetensors; keys in
  // an order the writer would not use, metadata last, JSON escapes in a name.
  TempDir dir;
  const std::string header =
      R"({"b\u00e9" : {"data_offsets":[8,16], "shape":[2], "dtype":"F32"},)"
      R"( "a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}, "__metadata__":{"format":"pt"}}   )";
  std::string data;
  const int32_t ints[2] = {-5, 7};
  data.append(reinterpret_cast<const char*>(ints), 8);
  data += float_bytes({1.5f, -2.0f});
  const std::string path = dir.file("hand.safetensors");
  write_bytes(path, safetensors_bytes(header, data));
  const auto f = na::io::load_safetensors(path);
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].first, "b\xc3\xa9");
  EXPECT_EQ(f.tensors[0].second.to_vector<float>(), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(f.tensors[1].first, "a");
  EXPECT_EQ(f.tensors[1].second.dtype(), na::kInt32);
  EXPECT_EQ(f.tensors[1].second.to_vector<int32_t>(), (std::vector<int32_t>{-5, 7}));
  EXPECT_EQ(f.metadata, (na::io::Metadata{{"format", "pt"}}));
}

TEST(Safetensors, EmptyStateDict) {
  TempDir dir;
  const std::string path = dir.file("empty.safetensors");
  na::io::save_safetensors(path, {});
  const auto f = na::io::load_safetensors(path);
  EXPECT_TRUE(f.tensors.empty());
  EXPECT_TRUE(f.metadata.empty());
}

struct MalformedCase {
  const char* name;
  std::string bytes;
  const char* expected;  // a substring of the error message
};

TEST(Safetensors, MalformedFilesAreClearErrors) {
  const std::string good_header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string good_data = float_bytes({1, 2});
  auto one = [](const std::string& entry, const std::string& data) {
    return safetensors_bytes("{\"w\":" + entry + "}", data);
  };
  const std::string f32x2 = float_bytes({1, 2});
  std::string deep = "{\"__metadata__\":" + std::string(200, '[') + std::string(200, ']') + "}";
  const std::vector<MalformedCase> cases = {
      {"empty file", "", "too short for the 8-byte header length"},
      {"5 bytes", B("\x10\x00\x00\x00\x00"), "too short"},
      {"header length beyond the file", le64(1000) + good_header, "runs past the end of the file"},
      {"header length 2^63", le64(uint64_t(1) << 63) + good_header + good_data,
       "runs past the end of the file"},
      {"header length 0", le64(0) + good_data, "header length is 0"},
      {"truncated data", safetensors_bytes(good_header, good_data.substr(0, 5)), "beyond the data section"},
      {"truncated header", safetensors_bytes(good_header, good_data).substr(0, 30), "runs past the end"},
      {"bad JSON", safetensors_bytes(R"({"w":{"dtype":"F32",)", good_data), "not valid JSON"},
      {"JSON trailing garbage", safetensors_bytes(good_header + "x", good_data), "not valid JSON"},
      {"JSON not an object", safetensors_bytes("[1, 2]", good_data), "header must be a JSON object"},
      {"duplicate key",
       safetensors_bytes(
           R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
           good_data),
       "duplicate key \"w\""},
      {"deep nesting", safetensors_bytes(deep, ""), "nesting deeper than 64"},
      {"invalid UTF-8 in a name", safetensors_bytes("{\"\xff\":{}}", ""), "invalid UTF-8"},
      {"control character in a string", safetensors_bytes("{\"a\nb\":{}}", ""), "control character"},
      {"unknown dtype", one(R"({"dtype":"I16","shape":[4],"data_offsets":[0,8]})", f32x2), "dtype 'I16'"},
      {"lower-case dtype", one(R"({"dtype":"f32","shape":[2],"data_offsets":[0,8]})", f32x2), "dtype 'f32'"},
      {"dtype not a string", one(R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})", f32x2),
       "dtype must be a string"},
      {"entry not an object", one("[1]", f32x2), "must be an object"},
      {"missing field", one(R"({"dtype":"F32","shape":[2]})", f32x2), "needs the fields"},
      {"unknown field", one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1})", f32x2),
       "unknown field 'x'"},
      {"negative shape", one(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})", f32x2),
       "non-negative integers, got -2"},
      {"fractional shape", one(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})", f32x2),
       "non-negative integers, got 2.0"},
      {"shape entry too big",
       one(R"({"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]})", f32x2),
       "non-negative integers"},
      {"shape product overflows",
       one(R"({"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]})", f32x2),
       "overflows 64 bits"},
      {"byte count overflows",
       one(R"({"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]})", f32x2),
       "overflows 64 bits"},
      {"shape/bytes mismatch", one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})", f32x2),
       "(8 bytes) but dtype F32 and shape (3,) need 12 bytes"},
      {"offsets not a pair", one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8,9]})", f32x2),
       "[begin, end]"},
      {"negative offset", one(R"({"dtype":"F32","shape":[2],"data_offsets":[-1,7]})", f32x2),
       "non-negative integers"},
      {"end before begin", one(R"({"dtype":"F32","shape":[0],"data_offsets":[8,0]})", f32x2),
       "end before begin"},
      {"offsets past the data", one(R"({"dtype":"F32","shape":[2],"data_offsets":[1000,1008]})", f32x2),
       "beyond the data section (8 bytes)"},
      {"overlapping tensors",
       safetensors_bytes(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
           float_bytes({1, 2, 3})),
       "overlapping"},
      {"gap between tensors",
       safetensors_bytes(
           R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
           float_bytes({1, 2, 3})),
       "gap in the data section: bytes [4, 8)"},
      {"gap at the start", one(R"({"dtype":"F32","shape":[1],"data_offsets":[4,8]})", f32x2),
       "gap in the data section: bytes [0, 4)"},
      {"trailing data", safetensors_bytes(good_header, good_data + "xyz"), "trailing bytes"},
      {"metadata value not a string", safetensors_bytes(R"({"__metadata__":{"step":3}})", ""),
       "must be a string"},
      {"metadata not an object", safetensors_bytes(R"({"__metadata__":"x"})", ""),
       "__metadata__ must be an object"},
      {"bool byte out of range", one(R"({"dtype":"BOOL","shape":[2],"data_offsets":[0,2]})", B("\x01\x02")),
       "only 0 and 1 are valid"},
  };
  TempDir dir;
  for (const auto& c : cases) {
    const std::string path = dir.file("bad.safetensors");
    write_bytes(path, c.bytes);
    const std::string msg = error_of([&] { na::io::load_safetensors(path); });
    EXPECT_EQ(msg.rfind("[safetensors] '" + path + "'", 0), 0u) << c.name << ": " << msg;
    EXPECT_NE(msg.find(c.expected), std::string::npos)
        << c.name << ": expected \"" << c.expected << "\" in: " << msg;
    // The header-only reader applies the same checks (except the data-dependent bool check).
    if (std::string(c.name) != "bool byte out of range") {
      EXPECT_THROW(na::io::read_safetensors_header(path), na::Error) << c.name;
    }
  }
  const std::string missing = error_of([&] { na::io::load_safetensors(dir.file("missing.safetensors")); });
  EXPECT_NE(missing.find("cannot open"), std::string::npos) << missing;
}

TEST(Safetensors, EveryTruncationOfAValidFileIsAnError) {
  TempDir dir;
  const std::string good = dir.file("good.safetensors");
  na::io::save_safetensors(good, every_dtype(), {{"step", "1"}});
  const std::string bytes = read_bytes(good);
  const std::string cut = dir.file("cut.safetensors");
  for (size_t len = 0; len < bytes.size(); ++len) {
    write_bytes(cut, bytes.substr(0, len));
    const std::string msg = error_of([&] { na::io::load_safetensors(cut); });
    EXPECT_EQ(msg.rfind("[safetensors]", 0), 0u) << "length " << len << ": " << msg;
  }
}

TEST(Safetensors, SaveRejectsBadInput) {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  const Tensor t = na::ones({2});
  EXPECT_NE(error_of([&] {
              na::io::save_safetensors(path, {{"a", t}, {"a", t}});
            }).find("duplicate tensor name 'a'"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              na::io::save_safetensors(path, {{"__metadata__", t}});
            }).find("reserved"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              na::io::save_safetensors(path, {{"u", Tensor()}});
            }).find("undefined"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              na::io::save_safetensors(path, {{"\xc3", t}});
            }).find("not valid UTF-8"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              na::io::save_safetensors(path, {}, {{"k", "\xff"}});
            }).find("not valid UTF-8"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              na::io::save_safetensors(dir.file("no/such/dir/x.safetensors"), {{"a", t}});
            }).find("cannot create"),
            std::string::npos);
  EXPECT_TRUE(dir.entries().empty()) << "a rejected save leaves no file behind";
}

TEST(Safetensors, SaveReplacesAtomically) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  na::io::save_safetensors(path, {{"w", na::full({4}, 1.0)}}, {{"step", "1"}});
  na::io::save_safetensors(path, {{"w", na::full({4}, 2.0)}, {"b", na::zeros({1})}}, {{"step", "2"}});
  const auto f = na::io::load_safetensors(path);
  EXPECT_EQ(f.metadata.at("step"), "2");
  EXPECT_EQ(f.at("w").to_vector<float>(), (std::vector<float>{2, 2, 2, 2}));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt.safetensors"});
}

TEST(Safetensors, ErrorDuringSaveKeepsPreviousFileAndRemovesTemporary) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  na::io::save_safetensors(path, {{"w", na::arange(100, na::kFloat32)}}, {{"step", "1"}});
  const std::string before = read_bytes(path);
  // An I/O error in the middle of the data (simulated by the write hook).
  na::io::detail::set_write_hook([](const std::string&, uint64_t written) {
    if (written > (1u << 20)) na::detail::throw_error("test", "simulated disk full");
  });
  const std::string msg = error_of([&] { na::io::save_safetensors(path, {{"w", na::zeros({1 << 20})}}); });
  na::io::detail::set_write_hook(nullptr);
  EXPECT_NE(msg.find("simulated disk full"), std::string::npos) << msg;
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt.safetensors"});
}

// The acceptance test for crash safety: a child process starts overwriting a good
// checkpoint with a large one and is SIGKILLed in the middle of writing it. The old
// checkpoint must be byte-for-byte intact and loadable afterwards.
TEST(Safetensors, ProcessKilledDuringSaveLeavesPreviousCheckpointIntact) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  const Tensor old_w = na::arange(1000, na::kFloat32);
  na::io::save_safetensors(path, {{"w", old_w}}, {{"step", "100"}});
  const std::string before = read_bytes(path);

  const int64_t big_numel = int64_t(16) << 20;  // 64 MiB of f32
  const uint64_t kill_after = uint64_t(8) << 20;
  const Tensor big = na::full({big_numel}, 7.0);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: tell the parent once 8 MiB are on disk, then wait to be killed.
    ::close(fds[0]);
    na::io::detail::set_write_hook([&](const std::string&, uint64_t written) {
      if (written >= kill_after) {
        const char c = 'k';
        if (::write(fds[1], &c, 1) != 1) ::_exit(4);
        for (;;) ::pause();
      }
    });
    try {
      na::io::save_safetensors(path, {{"w", big}}, {{"step", "200"}});
    } catch (...) {
      ::_exit(5);
    }
    ::_exit(3);  // the save finished: the hook never fired
  }
  ::close(fds[1]);
  struct Reaper {  // never leave the child running, whatever fails below
    pid_t pid;
    bool reaped = false;
    ~Reaper() {
      if (!reaped) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
  } reaper{pid};
  pollfd pfd{fds[0], POLLIN, 0};
  const int ready = ::poll(&pfd, 1, 120000);
  char c = 0;
  const ssize_t got = ready == 1 ? ::read(fds[0], &c, 1) : -1;
  ::close(fds[0]);
  ASSERT_EQ(got, 1) << "the child never reported being in the middle of the save";
  ASSERT_EQ(c, 'k');

  const std::string tmp = path + ".tmp." + std::to_string(pid);
  struct stat st {};
  ASSERT_EQ(::stat(tmp.c_str(), &st), 0) << "the save in progress writes to " << tmp;
  EXPECT_GE(static_cast<uint64_t>(st.st_size), kill_after);
  EXPECT_LT(static_cast<uint64_t>(st.st_size), uint64_t(big_numel) * 4);

  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  reaper.reaped = true;
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;

  EXPECT_EQ(read_bytes(path), before) << "the previous checkpoint is byte-for-byte intact";
  const auto f = na::io::load_safetensors(path);
  EXPECT_EQ(f.metadata.at("step"), "100");
  expect_same_tensor(f.at("w"), old_w, "w");
  // What the killed process left is recognisably incomplete, not silently loadable.
  const std::string msg = error_of([&] { na::io::load_safetensors(tmp); });
  EXPECT_EQ(msg.rfind("[safetensors]", 0), 0u) << msg;
  // And the next save from this process goes through.
  fs::remove(tmp);
  na::io::save_safetensors(path, {{"w", big.narrow(0, 0, 10)}}, {{"step", "201"}});
  EXPECT_EQ(na::io::load_safetensors(path).metadata.at("step"), "201");
}

// ------------------------------------------------------------------ checkpoint

TEST(Checkpoint, GroupsScalarsAndGeneratorRoundTrip) {
  TempDir dir;
  na::io::Checkpoint ck;
  ck.put_tensors("model", {{"fc.weight", na::ones({2, 2})}, {"fc.bias", na::zeros({2})}});
  ck.put_tensors("optim", {{"state.0.exp_avg", na::full({2, 2}, 0.5)}});
  ck.put_int("step", -1234567890123);
  const double values[] = {0.1, 1e-300, 4.9e-324, -0.0, 1.0 / 3.0, 6.02214076e23};
  for (int i = 0; i < 6; ++i) ck.put_double("d" + std::to_string(i), values[i]);
  na::Generator gen(99);
  (void)gen.engine()();  // advance past the seed state
  ck.put_generator("rng", gen);
  const std::string path = dir.file("ck.safetensors");
  ck.save(path);

  const auto back = na::io::Checkpoint::load(path);
  const auto model = back.tensors("model");
  ASSERT_EQ(model.size(), 2u);
  EXPECT_EQ(model[0].first, "fc.weight");
  EXPECT_EQ(model[1].first, "fc.bias");
  expect_same_tensor(model[0].second, na::ones({2, 2}), "fc.weight");
  EXPECT_EQ(back.tensors("optim").size(), 1u);
  EXPECT_TRUE(back.tensors("missing").empty());
  EXPECT_TRUE(back.has_tensor("optim.state.0.exp_avg"));
  EXPECT_EQ(back.get_int("step"), -1234567890123);
  for (int i = 0; i < 6; ++i) {
    const double d = back.get_double("d" + std::to_string(i));
    EXPECT_EQ(std::memcmp(&d, &values[i], sizeof d), 0) << "double " << i << " round-trips bit-exactly";
  }
  na::Generator restored(1);
  back.restore_generator("rng", restored);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(restored.engine()(), gen.engine()());

  EXPECT_NE(error_of([&] { back.get("nope"); }).find("no metadata key 'nope'"), std::string::npos);
  EXPECT_NE(error_of([&] { back.get_int("d0"); }).find("is not an integer"), std::string::npos);
  EXPECT_NE(error_of([&] { back.tensor("model.x"); }).find("no tensor named 'model.x'"), std::string::npos);
  na::io::Checkpoint dup;
  dup.put_tensor("a", na::ones({1}));
  EXPECT_EQ(error_of([&] {
              dup.put_tensors("", {{"x", na::ones({1})}});
            }),
            "no exception");  // stored as ".x"
  EXPECT_NE(error_of([&] { dup.put_tensor("a", na::ones({1})); }).find("already in the checkpoint"),
            std::string::npos);
}

// ------------------------------------------------------------------ npy

TEST(Npy, RoundTripEveryNumpyDtype) {
  TempDir dir;
  for (const auto& [name, t] : every_dtype()) {
    const std::string path = dir.file(name + ".npy");
    if (t.dtype() == na::kBFloat16) {
      const std::string msg = error_of([&] { na::io::save_npy(path, t); });
      EXPECT_NE(msg.find("no NumPy equivalent"), std::string::npos) << msg;
      continue;
    }
    na::io::save_npy(path, t);
    const std::string bytes = read_bytes(path);
    ASSERT_GE(bytes.size(), 10u);
    EXPECT_EQ(bytes.substr(0, 8), B("\x93NUMPY\x01\x00"));
    const size_t header_len = static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9])
                                                                         << 8;
    EXPECT_EQ((10 + header_len) % 64, 0u) << "data 64-byte aligned, as numpy writes it";
    EXPECT_EQ(bytes[10 + header_len - 1], '\n');
    expect_same_tensor(na::io::load_npy(path), t, name);
  }
  EXPECT_EQ(dir.entries().size(), every_dtype().size() - 1);
}

namespace {
// Files written by numpy 1.24 (np.save), copied byte for byte.
std::string numpy_file(const std::string& dict, size_t header_len, const std::string& data) {
  std::string h = dict;
  h.append(header_len - dict.size() - 1, ' ');
  h += '\n';
  return B("\x93NUMPY\x01\x00") + char(header_len & 0xff) + char(header_len >> 8) + h + data;
}
std::string hex(const std::string& s) {
  std::string out;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    out += static_cast<char>(std::stoi(s.substr(i, 2), nullptr, 16));
  return out;
}
}  // namespace

TEST(Npy, ReadsFilesWrittenByNumpy) {
  TempDir dir;
  const std::string path = dir.file("np.npy");
  // np.arange(6, dtype='<f4').reshape(2, 3)
  write_bytes(path, numpy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 118,
                               hex("000000000000803f0000004000004040000080400000a040")));
  Tensor t = na::io::load_npy(path);
  EXPECT_EQ(t.shape(), (na::Shape{2, 3}));
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  // np.array([True, False, True])
  write_bytes(path,
              numpy_file("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", 118, hex("010001")));
  t = na::io::load_npy(path);
  EXPECT_EQ(t.dtype(), na::kBool);
  EXPECT_EQ(t.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1}));
  // np.array([-3, 2**40], dtype='<i8')
  write_bytes(path, numpy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", 118,
                               hex("fdffffffffffffff0000000000010000")));
  t = na::io::load_npy(path);
  EXPECT_EQ(t.to_vector<int64_t>(), (std::vector<int64_t>{-3, int64_t(1) << 40}));
  // np.float64(2.5): a 0-d array
  write_bytes(path, numpy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 118,
                               hex("0000000000000440")));
  t = na::io::load_npy(path);
  EXPECT_EQ(t.dim(), 0);
  EXPECT_EQ(t.item<double>(), 2.5);
  // Format 2.0 (4-byte header length), as numpy writes for very large headers.
  const std::string dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }";
  std::string v2 = B("\x93NUMPY\x02\x00") + le64(116).substr(0, 4) + dict;
  v2.append(116 - dict.size() - 1, ' ');
  v2 += '\n';
  v2 += B("\x2a\x00\x00\x00");
  write_bytes(path, v2);
  EXPECT_EQ(na::io::load_npy(path).to_vector<int32_t>(), (std::vector<int32_t>{42}));
}

TEST(Npy, MalformedFilesAreClearErrors) {
  auto file = [](const std::string& dict, const std::string& data) { return numpy_file(dict, 118, data); };
  const std::string d8(8, '\0');
  const std::vector<MalformedCase> cases = {
      {"empty", "", "missing the \\x93NUMPY magic"},
      {"bad magic", B("\x93NUMPX\x01\x00\x10\x00{}"), "missing the \\x93NUMPY magic"},
      {"bad version", B("\x93NUMPY\x04\x00\x10\x00"), "unsupported .npy format version 4.0"},
      {"header beyond file", B("\x93NUMPY\x01\x00\xff\x00{'descr'"), "runs past the end of the file"},
      {"fortran order", file("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", d8),
       "Fortran-order"},
      {"big endian", file("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", d8),
       "big-endian dtype '>f4'"},
      {"complex", file("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", d8),
       "dtype '<c8' is not supported"},
      {"object", file("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", d8),
       "dtype '|O' is not supported"},
      {"structured", file("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", d8),
       "structured dtypes"},
      {"missing key", file("{'descr': '<f4', 'shape': (2,), }", d8), "must have the keys"},
      {"unknown key", file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", d8),
       "unknown key 'x'"},
      {"int shape", file("{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", d8), "trailing comma"},
      {"negative shape", file("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", d8),
       "non-negative"},
      {"not a dict", file("['descr', '<f4']", d8), "expected '{'"},
      {"truncated data", file("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", d8),
       "needs 12 data bytes but the file has 8 (truncated)"},
      {"trailing data", file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", d8),
       "(trailing bytes)"},
      {"shape overflow",
       file("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", d8),
       "overflows 64 bits"},
      {"bool byte", file("{'descr': '|b1', 'fortran_order': False, 'shape': (1,), }", "\x07"),
       "only 0 and 1"},
  };
  TempDir dir;
  for (const auto& c : cases) {
    const std::string path = dir.file("bad.npy");
    write_bytes(path, c.bytes);
    const std::string msg = error_of([&] { na::io::load_npy(path); });
    EXPECT_EQ(msg.rfind("[npy] '" + path + "'", 0), 0u) << c.name << ": " << msg;
    EXPECT_NE(msg.find(c.expected), std::string::npos)
        << c.name << ": expected \"" << c.expected << "\" in: " << msg;
  }
}
