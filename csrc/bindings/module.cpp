// PYBIND11_MODULE(_C): translates ember's C++ exceptions to Python ones and runs every
// registered bind_<area> function.
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "bindings/registry.h"
#include "core/check.h"
#include "core/cpu_features.h"
#include "core/parallel.h"

namespace ember {
namespace {
std::vector<std::pair<std::string, BindFn>>& registry() {
  static std::vector<std::pair<std::string, BindFn>> r;
  return r;
}
}  // namespace

void register_bindings(const char* area, BindFn fn) { registry().emplace_back(area, fn); }

}  // namespace ember

PYBIND11_MODULE(_C, m) {
  namespace py = pybind11;
  m.doc() = "ember's C++/CUDA kernels";
#ifdef EMBER_WITH_CUDA
  m.attr("has_cuda") = true;
#else
  m.attr("has_cuda") = false;
#endif

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ember::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const ember::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const ember::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const ember::NotImplementedError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    }
  });

  m.def("get_num_threads", &ember::get_num_threads);
  m.def("set_num_threads", &ember::set_num_threads, py::arg("n"));
  m.def("cpu_capability", [] { return ember::cpu_capability_name(ember::cpu_capability()); });
  m.def("detected_cpu_capability",
        [] { return ember::cpu_capability_name(ember::detected_cpu_capability()); });

  auto& areas = ember::registry();
  std::sort(areas.begin(), areas.end());
  for (auto& [name, fn] : areas) fn(m);
}
