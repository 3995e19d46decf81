// Bookkeeping helpers of ember.autograd (python/ember/autograd.py). Function.apply records, for
// every op, which arguments need a gradient and the graph edges they come from, marks the output
// as produced by the op and notes the versions of the tensors it saves; backward counts each
// node's dependencies, sends each node's gradients along its edges and hands the leaves their
// gradients (taking one over without a copy when nothing else holds it). As Python loops these
// cost more than the op's kernel on small tensors; here each is one call. They only read and set
// attributes of ember.Tensor objects and graph nodes and never touch tensor data, so they are the
// same for every device.
#include <algorithm>
#include <unordered_set>
#include <vector>

#include "bindings/registry.h"
#include "core/tensor.h"

namespace ember {
namespace {

PyTypeObject* g_tensor_type = nullptr;  // ember.Tensor, registered once at import

PyObject* attr(PyObject* o, PyObject* name) {
  PyObject* v = PyObject_GetAttr(o, name);
  if (!v) throw py::error_already_set();
  return v;
}

py::tuple meta_of(const Tensor& t) {
  const Shape& s = t.shape();
  py::tuple shape(s.size());
  for (size_t i = 0; i < s.size(); ++i) shape[i] = py::int_(s[i]);
  return py::make_tuple(shape, int(t.dtype()), int(t.device().type), int(t.device().index));
}

// True when t's memory may become the leaf param's .grad without a copy (torch's use-count test):
// same dtype, shape and device as param, no other view uses the memory, and t covers it densely
// from the start. Borrowed memory (NumPy, DLPack) never is.
bool storage_stealable(const Tensor& t, const Tensor& param) {
  const Storage& s = t.storage();
  return t.dtype() == param.dtype() && t.shape() == param.shape() && t.device() == param.device() &&
         s.use_count() == 1 && s->owns_memory() && t.offset() == 0 && t.is_contiguous() &&
         size_t(t.nbytes()) == s->nbytes();
}

}  // namespace

EMBER_BINDINGS(autograd) {
  // Interned once; alive for the life of the process, like the module.
  static PyObject* k_requires_grad = PyUnicode_InternFromString("_requires_grad");
  static PyObject* k_grad_fn = PyUnicode_InternFromString("grad_fn");
  static PyObject* k_output_nr = PyUnicode_InternFromString("_output_nr");
  static PyObject* k_c = PyUnicode_InternFromString("_c");
  static PyObject* k_leaf = PyLong_FromLong(-1);  // autograd._LEAF

  m.def("autograd_set_tensor_type", [](py::handle type) {
    EMBER_CHECK(PyType_Check(type.ptr()), TypeError, "autograd_set_tensor_type: expected a type");
    Py_INCREF(type.ptr());
    g_tensor_type = reinterpret_cast<PyTypeObject*>(type.ptr());
  });

  // For the arguments of an op: None when no argument is a tensor that requires grad, else
  // (needs_input_grad, edges), where edges[i] is None (no gradient wanted), (grad_fn, output_nr)
  // for a computed tensor, or (tensor, -1) for a leaf.
  m.def("autograd_input_edges", [](py::tuple args) -> py::object {
    EMBER_CHECK(g_tensor_type, TypeError, "autograd_input_edges: the Tensor type is not registered");
    const Py_ssize_t n = PyTuple_GET_SIZE(args.ptr());
    py::tuple needs(n);
    py::list edges(n);
    bool any = false;
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyObject* a = PyTuple_GET_ITEM(args.ptr(), i);
      bool need = false;
      if (PyObject_TypeCheck(a, g_tensor_type)) {
        py::object flag = py::reinterpret_steal<py::object>(attr(a, k_requires_grad));
        const int truth = PyObject_IsTrue(flag.ptr());
        if (truth < 0) throw py::error_already_set();
        need = truth == 1;
      }
      PyObject* flag = need ? Py_True : Py_False;
      Py_INCREF(flag);
      PyTuple_SET_ITEM(needs.ptr(), i, flag);
      PyObject* edge;
      if (!need) {
        Py_INCREF(Py_None);
        edge = Py_None;
      } else {
        any = true;
        py::object fn = py::reinterpret_steal<py::object>(attr(a, k_grad_fn));
        if (fn.is_none()) {
          edge = PyTuple_Pack(2, a, k_leaf);
        } else {
          py::object nr = py::reinterpret_steal<py::object>(attr(a, k_output_nr));
          edge = PyTuple_Pack(2, fn.ptr(), nr.ptr());
        }
        if (!edge) throw py::error_already_set();
      }
      PyList_SET_ITEM(edges.ptr(), i, edge);
    }
    if (!any) return py::none();
    return py::make_tuple(needs, edges);
  });

  // The version counters of the tensors a Function saves for backward (0 for None).
  m.def("autograd_versions", [](py::tuple tensors) {
    const Py_ssize_t n = PyTuple_GET_SIZE(tensors.ptr());
    py::list out(n);
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyObject* t = PyTuple_GET_ITEM(tensors.ptr(), i);
      int64_t v = 0;
      if (t != Py_None) {
        py::object impl = py::reinterpret_steal<py::object>(attr(t, k_c));
        v = impl.cast<const Tensor&>().version();
      }
      PyList_SET_ITEM(out.ptr(), i, PyLong_FromLongLong(v));
    }
    return out;
  });

  // Index of the first saved tensor whose version counter moved on since it was saved (an
  // in-place write), or -1.
  m.def("autograd_first_modified", [](py::sequence tensors, py::sequence versions) -> Py_ssize_t {
    const Py_ssize_t n = std::min(py::len(tensors), py::len(versions));
    for (Py_ssize_t i = 0; i < Py_ssize_t(n); ++i) {
      py::object t = tensors[i];
      if (t.is_none()) continue;
      py::object impl = py::reinterpret_steal<py::object>(attr(t.ptr(), k_c));
      if (impl.cast<const Tensor&>().version() != versions[i].cast<int64_t>()) return i;
    }
    return -1;
  });

  // {node: number of edges into it} over the graph reachable from the nodes `roots`, reading
  // each node's _next list (edges whose second item is negative go to leaves: not counted).
  m.def("autograd_dependencies", [](py::list roots) {
    static PyObject* k_next = PyUnicode_InternFromString("_next");
    py::dict deps;
    std::vector<PyObject*> stack;  // borrowed: the graph keeps every node alive meanwhile
    std::unordered_set<PyObject*> root_set;
    for (py::handle r : roots) {
      stack.push_back(r.ptr());
      root_set.insert(r.ptr());
    }
    while (!stack.empty()) {
      PyObject* fn = stack.back();
      stack.pop_back();
      py::object next = py::reinterpret_steal<py::object>(attr(fn, k_next));
      py::object seq = py::reinterpret_steal<py::object>(PySequence_Fast(next.ptr(), "_next must be a sequence"));
      if (!seq) throw py::error_already_set();
      const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq.ptr());
      PyObject** items = PySequence_Fast_ITEMS(seq.ptr());
      for (Py_ssize_t i = 0; i < n; ++i) {
        PyObject* e = items[i];
        if (e == Py_None) continue;
        EMBER_CHECK(PyTuple_Check(e) && PyTuple_GET_SIZE(e) == 2, TypeError, "autograd: malformed graph edge");
        const long nr = PyLong_AsLong(PyTuple_GET_ITEM(e, 1));
        if (nr == -1 && PyErr_Occurred()) throw py::error_already_set();
        if (nr < 0) continue;
        PyObject* nxt = PyTuple_GET_ITEM(e, 0);
        PyObject* count = PyDict_GetItemWithError(deps.ptr(), nxt);  // borrowed
        if (!count && PyErr_Occurred()) throw py::error_already_set();
        const long c = count ? PyLong_AsLong(count) + 1 : 1;
        py::object value = py::reinterpret_steal<py::object>(PyLong_FromLong(c));
        if (PyDict_SetItem(deps.ptr(), nxt, value.ptr()) < 0) throw py::error_already_set();
        if (!count && !root_set.count(nxt)) stack.push_back(nxt);
      }
    }
    return deps;
  });

  // One step of the backward pass (autograd._run_backward): sends the gradients `in_grads` that a
  // node's backward returned along its `edges`. A leaf's gradient is added to leaf_grads[leaf];
  // a node's to buffers[node][output_nr] (summed with +); each edge into a node lowers
  // deps[node], and a node left with none is appended to `ready`. Returns -1, or the index of
  // the first gradient whose shape is not its input's (the caller raises torch's error).
  m.def("autograd_propagate", [](py::sequence edges_in, py::sequence grads_in, py::dict buffers,
                                 py::dict leaf_grads, py::dict deps, py::list ready) -> Py_ssize_t {
    static PyObject* k_out_meta = PyUnicode_InternFromString("_out_meta");
    py::object edges = py::reinterpret_steal<py::object>(PySequence_Fast(edges_in.ptr(), "edges"));
    py::object grads = py::reinterpret_steal<py::object>(PySequence_Fast(grads_in.ptr(), "gradients"));
    if (!edges || !grads) throw py::error_already_set();
    const Py_ssize_t n = std::min(PySequence_Fast_GET_SIZE(edges.ptr()), PySequence_Fast_GET_SIZE(grads.ptr()));
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyObject* e = PySequence_Fast_ITEMS(edges.ptr())[i];
      PyObject* g = PySequence_Fast_ITEMS(grads.ptr())[i];
      if (e == Py_None) continue;
      EMBER_CHECK(PyTuple_Check(e) && PyTuple_GET_SIZE(e) == 2, TypeError, "autograd: malformed graph edge");
      PyObject* nxt = PyTuple_GET_ITEM(e, 0);
      const long nr = PyLong_AsLong(PyTuple_GET_ITEM(e, 1));
      if (nr == -1 && PyErr_Occurred()) throw py::error_already_set();
      const bool has_grad = g != Py_None;
      Shape g_shape;
      if (has_grad) {
        py::object gi = py::reinterpret_steal<py::object>(attr(g, k_c));
        g_shape = gi.cast<const Tensor&>().shape();
      }
      if (nr < 0) {  // a leaf
        if (!has_grad) continue;
        py::object li = py::reinterpret_steal<py::object>(attr(nxt, k_c));
        if (li.cast<const Tensor&>().shape() != g_shape) return i;
        PyObject* prev = PyDict_GetItemWithError(leaf_grads.ptr(), nxt);  // borrowed
        if (!prev && PyErr_Occurred()) throw py::error_already_set();
        py::object sum = py::reinterpret_borrow<py::object>(g);
        if (prev) {
          sum = py::reinterpret_steal<py::object>(PyNumber_Add(prev, g));
          if (!sum) throw py::error_already_set();
        }
        if (PyDict_SetItem(leaf_grads.ptr(), nxt, sum.ptr()) < 0) throw py::error_already_set();
        continue;
      }
      if (has_grad) {
        py::object metas = py::reinterpret_steal<py::object>(attr(nxt, k_out_meta));
        py::object meta = metas[py::int_(nr)];
        if (!meta.is_none()) {
          py::tuple want = meta[py::int_(0)];
          bool same = g_shape.size() == py::len(want);
          for (size_t d = 0; same && d < g_shape.size(); ++d) same = want[d].cast<int64_t>() == g_shape[d];
          if (!same) return i;
        }
        PyObject* buf = PyDict_GetItemWithError(buffers.ptr(), nxt);  // borrowed
        if (!buf && PyErr_Occurred()) throw py::error_already_set();
        if (!buf) {
          py::list fresh(py::len(metas));
          for (size_t k = 0; k < py::len(metas); ++k) fresh[k] = py::none();
          fresh[nr] = py::reinterpret_borrow<py::object>(g);
          if (PyDict_SetItem(buffers.ptr(), nxt, fresh.ptr()) < 0) throw py::error_already_set();
        } else {
          py::list b = py::reinterpret_borrow<py::list>(buf);
          py::object old = b[nr];
          if (old.is_none()) {
            b[nr] = py::reinterpret_borrow<py::object>(g);
          } else {
            py::object sum = py::reinterpret_steal<py::object>(PyNumber_Add(old.ptr(), g));
            if (!sum) throw py::error_already_set();
            b[nr] = sum;
          }
        }
      }
      PyObject* count = PyDict_GetItemWithError(deps.ptr(), nxt);  // borrowed
      if (!count) {
        if (PyErr_Occurred()) throw py::error_already_set();
        throw py::key_error("autograd: node missing from the dependency counts");
      }
      const long left = PyLong_AsLong(count) - 1;
      py::object value = py::reinterpret_steal<py::object>(PyLong_FromLong(left));
      if (PyDict_SetItem(deps.ptr(), nxt, value.ptr()) < 0) throw py::error_already_set();
      if (left == 0 && PyList_Append(ready.ptr(), nxt) < 0) throw py::error_already_set();
    }
    return -1;
  });

  // The end of the backward pass: gives each leaf its summed gradient. `items` is a list of
  // (leaf, gradient) pairs in the order the leaves were reached; its references are dropped as
  // they are read, so that reference counts show whether anyone else holds a gradient. A leaf with
  // hooks or a .grad already, or every leaf when `general_path` is set, goes to general(leaf, g).
  // Otherwise, for a leaf that requires grad, g becomes its .grad without a copy when no other
  // Python reference to g or its TensorImpl exists, g is no view (_base is None) and its memory
  // passes stealable_as_grad_of; else copy(leaf, g) sets a copy.
  m.def("autograd_accumulate_leaves", [](py::list items, bool general_path, py::object general,
                                         py::object copy) {
    static PyObject* k_hooks = PyUnicode_InternFromString("_hooks");
    static PyObject* k_grad = PyUnicode_InternFromString("grad");
    static PyObject* k_base = PyUnicode_InternFromString("_base");
    const Py_ssize_t n = PyList_GET_SIZE(items.ptr());
    for (Py_ssize_t i = 0; i < n; ++i) {
      py::object pair = py::reinterpret_borrow<py::object>(PyList_GET_ITEM(items.ptr(), i));
      Py_INCREF(Py_None);
      PyList_SetItem(items.ptr(), i, Py_None);  // drops the list's reference to the pair
      EMBER_CHECK(PyTuple_Check(pair.ptr()) && PyTuple_GET_SIZE(pair.ptr()) == 2, TypeError,
                  "autograd: malformed leaf gradient");
      py::object t = py::reinterpret_borrow<py::object>(PyTuple_GET_ITEM(pair.ptr(), 0));
      py::object g = py::reinterpret_borrow<py::object>(PyTuple_GET_ITEM(pair.ptr(), 1));
      pair = py::object();  // frees the pair unless someone else holds it
      bool general_leaf = general_path;
      if (!general_leaf) {
        py::object hooks = py::reinterpret_steal<py::object>(attr(t.ptr(), k_hooks));
        py::object grad = py::reinterpret_steal<py::object>(attr(t.ptr(), k_grad));
        const int has_hooks = PyObject_IsTrue(hooks.ptr());
        if (has_hooks < 0) throw py::error_already_set();
        general_leaf = has_hooks || !grad.is_none();
      }
      if (general_leaf) {
        general(t, g);
        continue;
      }
      py::object rg = py::reinterpret_steal<py::object>(attr(t.ptr(), k_requires_grad));
      const int requires = PyObject_IsTrue(rg.ptr());
      if (requires < 0) throw py::error_already_set();
      if (!requires) continue;
      bool steal = Py_REFCNT(g.ptr()) == 1;  // only this function holds g
      if (steal) {
        py::object base = py::reinterpret_steal<py::object>(attr(g.ptr(), k_base));
        py::object g_impl = py::reinterpret_steal<py::object>(attr(g.ptr(), k_c));
        py::object t_impl = py::reinterpret_steal<py::object>(attr(t.ptr(), k_c));
        steal = base.is_none() && Py_REFCNT(g_impl.ptr()) == 2 &&  // g's slot and g_impl
                storage_stealable(g_impl.cast<const Tensor&>(), t_impl.cast<const Tensor&>());
      }
      if (steal) {
        if (PyObject_SetAttr(t.ptr(), k_grad, g.ptr()) < 0) throw py::error_already_set();
      } else {
        copy(t, g);
      }
    }
  });

  // Marks `out` as output 0 of the graph node `ctx` (grad_fn, _output_nr, _requires_grad) and
  // returns the metadata the engine keeps of it: ((shape, dtype, device_type, device_index),).
  m.def("autograd_mark_output", [](py::handle out, py::handle ctx) {
    if (PyObject_SetAttr(out.ptr(), k_grad_fn, ctx.ptr()) < 0) throw py::error_already_set();
    static PyObject* zero = PyLong_FromLong(0);
    if (PyObject_SetAttr(out.ptr(), k_output_nr, zero) < 0) throw py::error_already_set();
    if (PyObject_SetAttr(out.ptr(), k_requires_grad, Py_True) < 0) throw py::error_already_set();
    py::object impl = py::reinterpret_steal<py::object>(attr(out.ptr(), k_c));
    return py::make_tuple(meta_of(impl.cast<const Tensor&>()));
  });
}

}  // namespace ember
