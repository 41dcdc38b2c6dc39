#include "recipes/vision/vision_task.h"

#include <ATen/ATen.h>
#include <torch/utils.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/unary_module.h"
#include "models/vision/resnet.h"

namespace recipes {

at::Tensor ForwardImages(torch::nn::Module& model, const at::Tensor& images) {
  if (auto* resnet = dynamic_cast<models::ResNetImpl*>(&model)) return resnet->forward(images);
  return base::ForwardUnary(model, images);
}

compressor::TaskFunctions ImageClassificationTask(
    const datasets::ImageClassificationData* eval_data, int64_t eval_batch_size) {
  compressor::TaskFunctions task;
  task.forward = [](torch::nn::Module& model, const compressor::TensorMap& batch) {
    return compressor::TensorMap{{"logits", ForwardImages(model, batch.at("pixel_values"))}};
  };
  task.loss = [](const compressor::TensorMap& outputs, const compressor::TensorMap& batch) {
    return at::cross_entropy_loss(outputs.at("logits"), batch.at("labels"));
  };
  if (eval_data != nullptr) {
    task.evaluate = [eval_data, eval_batch_size](torch::nn::Module& model)
        -> absl::StatusOr<std::map<std::string, double>> {
      absl::StatusOr<double> accuracy = Accuracy(model, *eval_data, eval_batch_size);
      if (!accuracy.ok()) return accuracy.status();
      return std::map<std::string, double>{{"accuracy", *accuracy}};
    };
  }
  return task;
}

absl::StatusOr<double> Accuracy(torch::nn::Module& model,
                                const datasets::ImageClassificationData& data,
                                int64_t batch_size) {
  if (data.size() == 0) return absl::InvalidArgumentError(data.source + ": no examples");
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  int64_t correct = 0;
  try {
    for (int64_t start = 0; start < data.size(); start += batch_size) {
      const int64_t n = std::min(batch_size, data.size() - start);
      const at::Tensor logits = ForwardImages(model, data.images.narrow(0, start, n));
      correct += datasets::CountCorrect(logits, data.labels.narrow(0, start, n));
    }
  } catch (const c10::Error& e) {
    model.train(was_training);
    return absl::InternalError(absl::StrCat("evaluating on ", data.source, ": ",
                                            e.what_without_backtrace()));
  }
  model.train(was_training);
  return double(correct) / double(data.size());
}

WeightStats MeasureWeights(torch::nn::Module& model) {
  WeightStats stats;
  auto add = [&](const std::string& name, const at::Tensor& t) {
    if (!t.defined() || t.dim() < 2) return;
    if (name != "weight" && (name.size() < 7 || name.compare(name.size() - 7, 7, ".weight") != 0)) {
      return;
    }
    stats.weights += t.numel();
    stats.zeros += t.eq(0).sum().item<int64_t>();
  };
  for (const auto& p : model.named_parameters()) add(p.key(), p.value());
  for (const auto& b : model.named_buffers()) add(b.key(), b.value());
  return stats;
}

SizeStats MeasureSize(torch::nn::Module& model) {
  SizeStats stats;
  std::vector<at::Tensor> tensors;
  for (const auto& p : model.named_parameters()) tensors.push_back(p.value().detach());
  for (const auto& b : model.named_buffers()) tensors.push_back(b.value());
  z_stream stream{};
  deflateInit(&stream, 6);
  std::vector<unsigned char> out(1 << 16);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor t = tensors[i].contiguous();
    const int64_t nbytes = t.numel() * static_cast<int64_t>(t.element_size());
    stats.bytes += nbytes;
    stream.next_in = static_cast<unsigned char*>(t.data_ptr());
    stream.avail_in = static_cast<unsigned>(nbytes);
    const int flush = i + 1 == tensors.size() ? Z_FINISH : Z_NO_FLUSH;
    do {
      stream.next_out = out.data();
      stream.avail_out = static_cast<unsigned>(out.size());
      deflate(&stream, flush);
      stats.compressed_bytes += static_cast<int64_t>(out.size() - stream.avail_out);
    } while (stream.avail_out == 0);
  }
  deflateEnd(&stream);
  return stats;
}

double MedianLatencyMs(torch::nn::Module& model, int64_t batch, int64_t channels, int64_t size,
                       int warmup, int iterations) {
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({batch, channels, size, size});
  for (int i = 0; i < warmup; ++i) ForwardImages(model, x);
  std::vector<double> times;
  for (int i = 0; i < iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    ForwardImages(model, x);
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  model.train(was_training);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace recipes
