// neural_arch::distributed: process groups and collectives, DistributedDataParallel and
// DistributedSampler (library neural_arch::distributed, built with NA_DISTRIBUTED).
#pragma once
#include "neural_arch/distributed/ddp.hpp"
#include "neural_arch/distributed/process_group.hpp"
#include "neural_arch/distributed/sampler.hpp"
