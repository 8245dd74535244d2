#include "neural_arch/models/model_dir.hpp"

#include <cstdlib>
#include <filesystem>

#include "neural_arch/error.hpp"

namespace neural_arch::models {

std::string default_model_dir() {
  if (const char* env = std::getenv("NA_MODEL_DIR"); env != nullptr && *env != '\0') return env;
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr && *home != '\0' ? home : "/root") + "/.cache/neural_arch/models/" +
         kDefaultModelName;
}

std::string require_model_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool has_config = fs::is_regular_file(fs::path(dir) / "config.json", ec);
  const bool has_weights = fs::is_regular_file(fs::path(dir) / "model.safetensors", ec) ||
                           fs::is_regular_file(fs::path(dir) / "model.safetensors.index.json", ec);
  NA_CHECK(has_config && has_weights, "models", "no Hugging Face model in '", dir,
           "' (config.json and model.safetensors expected); run `scripts/install_deps.sh --models` to fetch ",
           kDefaultModelName, " there (NA_MODEL_DIR overrides the directory)");
  return dir;
}

}  // namespace neural_arch::models
