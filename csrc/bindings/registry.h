// Each bind_<area>.cpp registers its binding function with EMBER_BINDINGS(area); module.cpp runs
// them all when ember._C is imported. Adding an area means adding a file, not editing module.cpp.
#pragma once
#include <pybind11/pybind11.h>

namespace ember {
namespace py = pybind11;

using BindFn = void (*)(py::module_&);
void register_bindings(const char* area, BindFn fn);

struct BindingsRegistrar {
  BindingsRegistrar(const char* area, BindFn fn) { register_bindings(area, fn); }
};

}  // namespace ember

#define EMBER_BINDINGS(area)                                                               \
  static void bind_##area(::ember::py::module_& m);                                        \
  static ::ember::BindingsRegistrar bind_##area##_registrar(#area, &bind_##area);          \
  static void bind_##area(::ember::py::module_& m)
