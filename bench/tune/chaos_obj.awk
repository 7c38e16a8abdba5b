# awk variant of chaos_obj.sh (modes awk, awkbuf): same loss and checkpoint
# format; buf=1 leaves stdout block-buffered (reports arrive in bursts, at
# exit for short trials)
BEGIN {
  x = ENVIRON["SLUICE_PARAM_X"] + 0; y = ENVIRON["SLUICE_PARAM_Y"] + 0
  id = ENVIRON["SLUICE_TRIAL_ID"]; d = ENVIRON["SLUICE_TRIAL_DIR"]; res = ENVIRON["SLUICE_RESUME"]
  if (ENVIRON["SLUICE_MAX_T"] != "" && ENVIRON["SLUICE_MAX_T"] + 0 < n) n = ENVIRON["SLUICE_MAX_T"] + 0
  step = 0
  if (res != "") { if ((getline line < res) <= 0) exit 9; split(line, w, " "); step = w[1] + 0; close(res) }
  lead = ENVIRON["SLUICE_TRIAL_RANK"] == "" || ENVIRON["SLUICE_TRIAL_RANK"] == "0"
  while (step < n) {
    step++
    if (nap > 0) system("sleep " nap / 1000)
    v = sprintf("%.9f", (x-0.3)^2 + (y+0.2)^2 + 0.3*(1+sin(7*x+3*y+step))/step)
    if (lead) {
      f = d "/.tmp-" step
      printf "%d %s %s %s %s\n", step, id, ENVIRON["SLUICE_PARAM_X"], ENVIRON["SLUICE_PARAM_Y"], v > f
      close(f)
      system("mv '" f "' '" d "/checkpoint-" step "'")
    }
    print "sluice-report step=" step " loss=" v
    if (!buf) fflush()
  }
}
