# SPDX-License-Identifier: BSD-3-Clause
# Sourced by the benchmarks: sluice_bin BUILDDIR sets SLUICE_BIN to the
# program to time. In a shared build, BUILDDIR/sluice is libtool's wrapper
# script, which runs a shell, sed and ls before the program at every start
# (20-40 ms here, a tenth of a short sort); an installed sluice has none of
# that, so the benchmarks time .libs/sluice with the build's libraries.
sluice_bin() {
  if [ -x "$1/.libs/sluice" ] && [ "$(head -c 2 "$1/sluice")" = '#!' ]; then
    LD_LIBRARY_PATH="$1/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
    SLUICE_BIN="$1/.libs/sluice"
  else
    SLUICE_BIN="$1/sluice"
  fi
}
