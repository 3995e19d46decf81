# Compiles csrc/cpu/kernels/*.cpp once per instruction set. Each copy lives in its own
# namespace (CPU_CAPABILITY) and registers its kernels into the DispatchStubs of
# csrc/core/dispatch.h; the stub picks the best copy the running CPU supports.
# Only code that really needs several variants belongs in csrc/cpu/kernels/.
function(ember_add_cpu_capability target capability flags)
  if(NOT EMBER_CPU_KERNEL_SOURCES)
    return()
  endif()
  string(TOLOWER ${capability} lower)
  set(objlib ember_cpu_${lower})
  add_library(${objlib} OBJECT ${EMBER_CPU_KERNEL_SOURCES})
  target_include_directories(${objlib} PRIVATE ${CMAKE_SOURCE_DIR}/csrc)
  target_compile_definitions(${objlib} PRIVATE CPU_CAPABILITY=${capability} CPU_CAPABILITY_${capability}=1)
  # Kernels never read errno or the floating-point exception flags. With errno, every sqrt keeps a
  # scalar errno branch; with trapping math, a select on a float comparison (x > max ? inf : y)
  # is not if-converted; both block vectorisation (the fused Adam step ran at half speed, and
  # vec_math.h's exp/log/sin/cos would not vectorise at all). Results are unchanged.
  # -Wno-psabi: GCC notes that functions passing 64-byte vectors (vec_math.h's f32x16) would pass
  # them differently with and without AVX-512; they are inline in each build's own namespace, so
  # no call ever crosses builds.
  target_compile_options(${objlib} PRIVATE ${flags} -O3 -fno-math-errno -fno-trapping-math ${EMBER_WARNINGS}
                         -Wno-psabi)
  target_sources(${target} PRIVATE $<TARGET_OBJECTS:${objlib}>)
endfunction()
