// Element types, their sizes, names and PyTorch's type-promotion rules.
#pragma once
#include <cstdint>
#include <cstring>
#include <iosfwd>
#include <string>

namespace neural_arch {

/// Element type of a tensor. f16 and bf16 are storage types: ops compute them in f32.
enum class DType : uint8_t { f32, f64, f16, bf16, i32, i64, u8, boolean };

inline constexpr DType kFloat32 = DType::f32;
inline constexpr DType kFloat64 = DType::f64;
inline constexpr DType kFloat16 = DType::f16;
inline constexpr DType kBFloat16 = DType::bf16;
inline constexpr DType kInt32 = DType::i32;
inline constexpr DType kInt64 = DType::i64;
inline constexpr DType kUInt8 = DType::u8;
inline constexpr DType kBool = DType::boolean;

/// Size of one element in bytes.
size_t element_size(DType t);
/// "float32", "int64", ... (PyTorch's names).
const char* dtype_name(DType t);
/// Writes dtype_name(t) (so a DType prints as "float32", also in test names and messages).
std::ostream& operator<<(std::ostream& os, DType t);
bool is_floating(DType t);
bool is_integral(DType t, bool include_bool = false);
/// The result type of a binary op on tensors of types a and b (PyTorch's promotion lattice).
DType promote_types(DType a, DType b);

/// IEEE binary16, stored as bits. Conversions round to nearest even; NaN becomes sign|0x7e00.
struct Half {
  uint16_t bits = 0;
  Half() = default;
  Half(float f);  // NOLINT: implicit like a built-in float type
  operator float() const;
};

/// bfloat16, stored as bits. Conversion from float rounds to nearest even; NaN becomes 0x7fc0.
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  BFloat16(float f);  // NOLINT
  operator float() const;
};

float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
inline float bf16_to_float(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0u;  // every NaN -> one quiet NaN, like c10::BFloat16
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline Half::Half(float f) : bits(float_to_half(f)) {}
inline Half::operator float() const { return half_to_float(bits); }
inline BFloat16::BFloat16(float f) : bits(float_to_bf16(f)) {}
inline BFloat16::operator float() const { return bf16_to_float(bits); }

/// Maps a C++ type to its DType.
template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<Half> { static constexpr DType value = DType::f16; };
template <> struct dtype_of<BFloat16> { static constexpr DType value = DType::bf16; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::boolean; };

/// Calls f(T{}) with T the C++ type of dtype t. Every dtype.
template <class F> decltype(auto) visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::f16: return f(Half{});
    case DType::bf16: return f(BFloat16{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    case DType::u8: return f(uint8_t{});
    case DType::boolean: return f(bool{});
  }
  return f(float{});
}

}  // namespace neural_arch
