# Warnings, -Werror and hardening.
#
# RV_WERROR (default OFF): warnings are errors. scripts/setup.sh turns it on
# for the project's own builds; distribution builds (dpkg-buildflags, other
# compilers) only see warnings.
# RV_HARDENING (default ON): stack protector, FORTIFY (optimised builds), PIE,
# full RELRO and BIND_NOW, as Debian's dpkg-buildflags "hardening=+all".
# Flags already given in CFLAGS/LDFLAGS (dpkg-buildflags) are not repeated.
option(RV_WERROR "Treat compiler warnings as errors (project CI and dev builds)" OFF)
option(RV_HARDENING "Stack protector, _FORTIFY_SOURCE=2, PIE, -z relro -z now" ON)

add_compile_options(-Wall -Wextra -D_GNU_SOURCE)
if(RV_WERROR)
  add_compile_options(-Werror)
endif()

if(RV_HARDENING)
  include(CheckPIESupported)
  check_pie_supported(LANGUAGES C)
  set(CMAKE_POSITION_INDEPENDENT_CODE ON)
  add_compile_options(-fstack-protector-strong)
  # FORTIFY needs the optimiser (glibc warns at -O0) and clashes with ASan.
  if(NOT RV_SANITIZE AND NOT CMAKE_C_FLAGS MATCHES "_FORTIFY_SOURCE")
    add_compile_options($<$<NOT:$<CONFIG:Debug>>:-D_FORTIFY_SOURCE=2>)
  endif()
  add_link_options(-Wl,-z,relro,-z,now)
endif()
