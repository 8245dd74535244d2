// Where pretrained models live on disk. Nothing is downloaded at run time:
// scripts/install_deps.sh --models unpacks all-MiniLM-L6-v2 into default_model_dir().
#pragma once
#include <string>

namespace neural_arch::models {

/// The name of the model that scripts/install_deps.sh --models installs.
inline constexpr const char* kDefaultModelName = "all-MiniLM-L6-v2";

/// $NA_MODEL_DIR when set, else $HOME/.cache/neural_arch/models/all-MiniLM-L6-v2 (the
/// directory install_deps.sh --models writes). Only computes the path; see require_model_dir.
std::string default_model_dir();

/// `dir` when it holds a Hugging Face model (config.json and model.safetensors or
/// model.safetensors.index.json); otherwise throws an Error saying to run
/// `scripts/install_deps.sh --models` (for the default model) or naming what is missing.
std::string require_model_dir(const std::string& dir = default_model_dir());

}  // namespace neural_arch::models
