// Initialises a smaller student from its teacher before distillation (DistilBERT's
// "take one layer out of two"): every tensor is copied by name, and names inside a
// numbered layer are redirected to the teacher layer a layer map picks.
//
//   // Student: 6 layers, teacher: 12; student layer i <- teacher layer 2i + 1.
//   ASSIGN_OR_RETURN(StudentInitReport report,
//                    InitializeStudentFromTeacher(*student, *teacher, UniformLayerMap(6, 12)));
//   // "bert.encoder.layer.1.attention.self.query.weight" now holds the teacher's
//   // "bert.encoder.layer.3.attention.self.query.weight"; embeddings and heads are copied
//   // under their own names.
//
// Works on any torch::nn::Module: layers are found by their registered names
// ("<prefix><layer_pattern><index>.<rest>"), not by model type.
#ifndef COMPRESSOR_DISTILLATION_STUDENT_INIT_H_
#define COMPRESSOR_DISTILLATION_STUDENT_INIT_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>

#include "absl/status/statusor.h"

namespace compressor {

// What InitializeStudentFromTeacher did, for logging; names are the modules' parameter
// and buffer names, in the order named_parameters() then named_buffers() lists them.
struct StudentInitReport {
  // (student name, teacher name it was copied from).
  std::vector<std::pair<std::string, std::string>> copied;
  // (student name, why it was left as it was): its layer is not in the layer map, the
  // teacher has no such tensor, or (outside mapped layers) the shapes differ.
  std::vector<std::pair<std::string, std::string>> untouched;
  // Teacher names no student tensor was copied from (e.g. the skipped layers).
  std::vector<std::string> unused_teacher;
};

// Copies each student parameter and buffer from the teacher tensor of the same name and
// shape. A student name containing "<layer_pattern><i>." (at the start of the name or
// after a '.'; the first such occurrence) is taken from the same name with
// "<layer_pattern><layer_map[i]>." instead; student layers missing from `layer_map` are
// left as they are and reported. Values are copied with copy_() (dtype converted),
// without recording gradients.
//
// Errors (InvalidArgument; nothing is copied then): a `layer_map` key that is not a
// student layer or value that is not a teacher layer, and a shape mismatch between a
// mapped layer's student tensor and its teacher tensor (naming both names and shapes).
absl::StatusOr<StudentInitReport> InitializeStudentFromTeacher(
    torch::nn::Module& student, const torch::nn::Module& teacher,
    const std::map<int64_t, int64_t>& layer_map, const std::string& layer_pattern = "layer.");

// Evenly spaced teacher layers for a student of `student_layers` layers:
//   student i <- teacher max(0, round((i + 1) * T / S) - 1),  halves rounded up,
// so the last student layer takes the last teacher layer and each student layer the
// last teacher layer of its share: 6 of 12 -> {0:1, 1:3, 2:5, 3:7, 4:9, 5:11}, 4 of 12 ->
// {0:2, 1:5, 2:8, 3:11}, S == T -> identity. Throws c10::Error unless both counts are > 0.
std::map<int64_t, int64_t> UniformLayerMap(int64_t student_layers, int64_t teacher_layers);

}  // namespace compressor

#endif  // COMPRESSOR_DISTILLATION_STUDENT_INIT_H_
