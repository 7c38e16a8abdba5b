// SPDX-License-Identifier: BSD-3-Clause
// Bench-only peer: ips4o's parallel in-place sort of 100-byte records by
// their 10-byte keys (Debian libips4o-dev), on gensort data read from FILE.
// usage: OMP_NUM_THREADS=2 ips4o_bench FILE [reps] -> "ips4o MB/s s"
#include <ips4o.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

using rec = std::array<unsigned char, 100>;

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    FILE *f = fopen(argv[1], "rb");
    if (!f)
        return 1;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    std::vector<rec> orig(sz / 100);
    if (fread(orig.data(), 100, orig.size(), f) != orig.size())
        return 1;
    fclose(f);
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        std::vector<rec> v = orig;
        auto t0 = std::chrono::steady_clock::now();
        ips4o::parallel::sort(v.begin(), v.end(),
                              [](const rec &a, const rec &b) { return memcmp(a.data(), b.data(), 10) < 0; });
        double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::min(best, t);
        for (size_t i = 1; i < v.size(); i++)
            if (memcmp(v[i - 1].data(), v[i].data(), 10) > 0)
                return 3;
    }
    printf("ips4o %.1f MB/s %.3f s\n", (double)sz / best / 1e6, best);
    return 0;
}
