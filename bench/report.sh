#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The bench's report: raw samples (bench/bench.sh) → median/min/max per (N, mode, metric) →
# OUT/results.json (the schema of the bench issue, plus machine info and notes), a table on
# stdout with the ratios of sluice to each other mode and of each mode to bare, and
# OUT/bench.svg (connection rate and connect latency against N, one line per mode).
#
#   bench/report.sh SAMPLES.tsv EXTRA.tsv OUT QUICK REPEATS DURATION PARALLEL IPERF_TIME
#
# SAMPLES: "services mode metric value" per repeat (header line first). EXTRA: figures that come
# already aggregated ("services mode metric median min max repeats"; sluice-pktbench's). A
# metric "name@C" was measured with C ipBlock rules: results.json says metric "name" and
# "policy_cidrs": C, and the table gives it a section with the ratio of the most to the fewest.
# OUT/notes.tsv, when there: "services mode metric text" for a figure the bench did not measure,
# and why (results.json "notes"; the table says "not measured" and prints the text).
# BENCH_SCENARIO (single or cross-node, default single) names the scenario in results.json and
# the table; a figure no mode has at an N gets no row. BENCH_ENDPOINTS: endpoints per service
# (default 10), for the table's heading.
set -euo pipefail

scenario=${BENCH_SCENARIO:-single}
samples=$1 extra=$2 out=$3 quick=$4 repeats=$5 duration=$6 parallel=$7 iperf_time=$8
agg=$out/aggregated.tsv
notes=$out/notes.tsv
[[ -e $notes ]] || : >"$notes"
# Table columns and plot lines, in order.
MODES="bare iptables iptables-nft nftables sluice sluice-socket"

# ---- aggregate ------------------------------------------------------------------------------
tail -n +2 "$samples" | sort -t $'\t' -k1,1n -k2,2 -k3,3 -k4,4g |
	awk -F'\t' -v OFS='\t' '
	function flush() {
		if (key == "") return
		if (n % 2) med = v[(n + 1) / 2]; else med = (v[n / 2] + v[n / 2 + 1]) / 2
		print k1, k2, k3, med, v[1], v[n], n
	}
	{
		k = $1 FS $2 FS $3
		if (k != key) { flush(); key = k; k1 = $1; k2 = $2; k3 = $3; n = 0 }
		v[++n] = $4
	}
	END { flush() }' >"$agg"
cat "$extra" >>"$agg"

# ---- JSON -------------------------------------------------------------------------------------
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem_kib=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
commit=$(git -C "$(dirname "$0")/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
jq -n --arg cpu "$cpu" --argjson cpus "$(nproc)" --arg kernel "$(uname -r)" \
	--argjson mem_kib "$mem_kib" --arg iptables "${BENCH_IPT_VERSION:-$(iptables-legacy -V 2>/dev/null)}" \
	--arg iptables_nft "${BENCH_IPT_NFT_VERSION:-$(iptables-nft -V 2>/dev/null)}" \
	--arg nft "$(nft -v 2>/dev/null)" --arg iperf3 "$(iperf3 -v 2>/dev/null | head -n1)" \
	--arg commit "$commit" --arg scenario "$scenario" \
	--arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	--argjson quick "$([[ $quick == 1 ]] && echo true || echo false)" \
	--argjson repeats "$repeats" --argjson duration "$duration" --argjson parallel "$parallel" \
	--argjson iperf_time "$iperf_time" --rawfile agg "$agg" --rawfile notes "$notes" '
	{machine: {cpu: $cpu, cpus: $cpus, kernel: $kernel, memory_kib: $mem_kib,
		   iptables: $iptables, iptables_nft: $iptables_nft, nft: $nft, iperf3: $iperf3,
		   commit: $commit, date: $date, scenario: $scenario, load_average: $load,
		   quick: $quick, repeats: $repeats, load_seconds: $duration,
		   client_threads: $parallel, iperf3_seconds: $iperf_time},
	 results: [$agg | split("\n")[] | select(length > 0) | split("\t")
		   | select(.[2] != "connect_errors")
		   | {services: (.[0] | tonumber), mode: .[1], metric: (.[2] | split("@")[0]),
		      median: (.[3] | tonumber), min: (.[4] | tonumber), max: (.[5] | tonumber),
		      repeats: (.[6] | tonumber)}
		     + (if (.[2] | contains("@")) then {policy_cidrs: (.[2] | split("@")[1] | tonumber)}
			else {} end)],
	 notes: [$notes | split("\n")[] | select(length > 0) | split("\t")
		 | {services: (.[0] | tonumber), mode: .[1], metric: .[2], note: .[3]}]}' >"$out/results.json"

# ---- table ------------------------------------------------------------------------------------
# Per N: each mode's median [min-max], sluice over each other mode (s/X) and sluice-socket over
# each mode that is not sluice's (sock/X), then each mode over bare for the traffic figures. A
# cell with a note says "not measured"; the notes follow the table. Across nodes, a table of
# issue 13's targets follows, for both sluice modes.
awk -F'\t' -v modes="$MODES" -v notes="$notes" -v scenario="$scenario" -v endpoints="${BENCH_ENDPOINTS:-10}" '
	BEGIN {
		nmetrics = split("conn_rate connect_p50_us connect_p99_us throughput_gbps load_all_ms load_all_flush_ms update_one_ms update_e2e_ms update_one_api_ms update_e2e_api_ms ns_per_packet_new_filling ns_per_packet_new ns_per_packet_established ns_per_packet_new_full ns_per_packet_new_full_confirmed ns_per_packet_masq_new ns_per_packet_masq_established ns_per_packet_tunnel_new_remote ns_per_packet_tunnel_encap ns_per_packet_tunnel_decap_new ns_per_packet_tunnel_decap_reply memory_kib", metrics, " ")
		nmodes = split(modes, mode, " ")
		split("conn_rate connect_p50_us connect_p99_us throughput_gbps", traffic, " ")
		short["iptables"] = "ipt"; short["iptables-nft"] = "ipt-nft"; short["nftables"] = "nft"; short["bare"] = "bare"; short["sluice-socket"] = "sock"
		# Ratio columns: sluice over every other mode, then sluice-socket over every mode that
		# is not a sluice mode; bare last in each.
		for (k = 1; k <= nmodes; k++) if (mode[k] != "sluice" && mode[k] != "bare") { num[++nratios] = "sluice"; den[nratios] = mode[k] }
		num[++nratios] = "sluice"; den[nratios] = "bare"
		for (k = 1; k <= nmodes; k++) if (mode[k] !~ /^sluice/ && mode[k] != "bare") { num[++nratios] = "sluice-socket"; den[nratios] = mode[k] }
		num[++nratios] = "sluice-socket"; den[nratios] = "bare"
		short["sluice"] = "s"
		while ((getline line < notes) > 0) {
			split(line, f, "\t")
			noted[f[1], f[2], f[3]] = 1
			noted_metric[f[1], f[3]] = 1
			note_text[f[1]] = note_text[f[1]] sprintf("note: %s %s: %s\n", f[2], f[3], f[4])
		}
	}
	{ med[$1, $2, $3] = $4; lo[$1, $2, $3] = $5; hi[$1, $2, $3] = $6; has[$1, $3] = 1; if (!($1 in seen)) { seen[$1] = 1; ns[++nn] = $1 } }
	function fmt(x,   a) { a = x < 0 ? -x : x; return a >= 100 ? sprintf("%.0f", x) : a >= 10 ? sprintf("%.1f", x) : sprintf("%.2f", x) }
	function ratio(n, m, a, b) {
		if (!((n, a, m) in med) || !((n, b, m) in med) || med[n, b, m] == 0) return "-"
		return sprintf("%.2fx", med[n, a, m] / med[n, b, m])
	}
	END {
		for (i = 1; i <= nn; i++) {
			n = ns[i]
			printf "\n%sN = %s services (%s endpoints each): median [min-max]\n", scenario == "single" ? "" : scenario ": ", n, endpoints
			line = sprintf("%-32s", "metric")
			for (k = 1; k <= nmodes; k++) line = line sprintf(" %-23s", mode[k])
			for (k = 1; k <= nratios; k++) line = line sprintf(" %12s", short[num[k]] "/" short[den[k]])
			print line
			for (j = 1; j <= nmetrics; j++) {
				m = metrics[j]; line = sprintf("%-32s", m)
				if (!((n, m) in has) && !((n, m) in noted_metric)) continue
				for (k = 1; k <= nmodes; k++) {
					if ((n, mode[k], m) in med) cell = fmt(med[n, mode[k], m]) " [" fmt(lo[n, mode[k], m]) "-" fmt(hi[n, mode[k], m]) "]"
					else if ((n, mode[k], m) in noted) cell = "not measured"
					else cell = "-"
					line = line sprintf(" %-23s", cell)
				}
				for (k = 1; k <= nratios; k++) line = line sprintf(" %12s", ratio(n, m, num[k], den[k]))
				print line
			}
			line = sprintf("%-32s", "against bare")
			for (k = 1; k <= nmodes; k++) if (mode[k] != "bare") line = line sprintf(" %12s", mode[k])
			print line
			for (j = 1; j <= 4; j++) {
				m = traffic[j]; line = sprintf("%-32s", m)
				for (k = 1; k <= nmodes; k++) if (mode[k] != "bare") line = line sprintf(" %12s", ratio(n, m, mode[k], "bare"))
				print line
			}
			printf "%s", note_text[n]
		}
		if (scenario == "cross-node") {
			# Issue 13: connection rate >= 1.0x bare over the overlay and >= 1.3x iptables at
			# 1,000 services, throughput >= 0.95x bare; every N shown, each median ratio judged.
			nt = split("conn_rate bare 1.0|throughput_gbps bare 0.95|conn_rate iptables 1.3|conn_rate iptables-nft 1.3", target, "|")
			printf "\ncross-node: issue 13 targets (median over median; the iptables ones are set at 1,000 services)\n"
			printf "%-8s %-36s %-16s %s\n", "N", "target", "sluice", "sluice-socket"
			for (i = 1; i <= nn; i++) for (t = 1; t <= nt; t++) {
				split(target[t], f, " ")
				line = sprintf("%-8s %-36s", ns[i], sprintf("%s >= %sx %s", f[1], f[3], f[2]))
				for (k = 1; k <= 2; k++) {
					a = k == 1 ? "sluice" : "sluice-socket"
					r = ratio(ns[i], f[1], a, f[2])
					if (r != "-") r = r (med[ns[i], a, f[1]] >= f[3] * med[ns[i], f[2], f[1]] ? " met" : " NOT met")
					line = line sprintf(" %-16s", r)
				}
				sub(/ +$/, "", line)
				print line
			}
		}
		print "\nconn_rate and throughput: higher is better; latency, times and memory: lower is better (s/X and sock/X < 1 favour sluice for those)."
	}' "$agg" | tee "$out/table.txt"

# NetworkPolicy: ns per new flow by number of ipBlock rules, and the most over the fewest.
awk -F'\t' '
	$3 ~ /@/ {
		split($3, part, "@"); m = part[1]; c = part[2] + 0
		if (!(m in seen_m)) { seen_m[m] = 1; ms[++nm] = m }
		if (!(c in seen_c)) { seen_c[c] = 1; cs[++nc] = c }
		med[m, c] = $4; lo[m, c] = $5; hi[m, c] = $6; svc = $1
	}
	END {
		if (!nm) exit
		for (i = 1; i <= nc; i++) for (j = i + 1; j <= nc; j++) if (cs[j] < cs[i]) { t = cs[i]; cs[i] = cs[j]; cs[j] = t }
		printf "\nNetworkPolicy, ns per new flow with N ipBlock rules (%s services): median [min-max]\n", svc
		line = sprintf("%-32s", "metric")
		for (j = 1; j <= nc; j++) line = line sprintf(" %-22s", cs[j] " rules")
		print line sprintf(" %10s", cs[nc] "/" cs[1])
		for (i = 1; i <= nm; i++) {
			m = ms[i]; line = sprintf("%-32s", m)
			for (j = 1; j <= nc; j++) {
				if ((m, cs[j]) in med) cell = sprintf("%.0f [%.0f-%.0f]", med[m, cs[j]], lo[m, cs[j]], hi[m, cs[j]])
				else cell = "-"
				line = line sprintf(" %-22s", cell)
			}
			r = ((m, cs[1]) in med && med[m, cs[1]] > 0 && (m, cs[nc]) in med) ? sprintf("%.2fx", med[m, cs[nc]] / med[m, cs[1]]) : "-"
			print line sprintf(" %10s", r)
		}
		print "(issue 6: 1,000 rules <= 1.2x 10 rules per new flow; denied: every lookup then the drop; allowed adds two conntrack inserts)"
	}' "$agg" | tee -a "$out/table.txt"

# ---- SVG ----------------------------------------------------------------------------------------
awk -F'\t' -v modes_list="$MODES" '
	BEGIN { nmodes = split(modes_list, modes, " "); color["bare"] = "#7f7f7f"; color["iptables"] = "#d62728"; color["iptables-nft"] = "#9467bd"; color["nftables"] = "#ff7f0e"; color["sluice"] = "#1f77b4"; color["sluice-socket"] = "#2ca02c" }
	$3 == "conn_rate" || $3 == "connect_p50_us" || $3 == "connect_p99_us" { v[$1, $2, $3] = $4; if (!($1 in seen)) { seen[$1] = 1; ns[++nn] = $1 } }
	function lx(n) { return log(n) / log(10) }
	function panel(x0, title, metric, metric2,   i, k, n, y, ymax, x, pts, pts2, xmin, xmax, t) {
		ymax = 0
		for (i = 1; i <= nn; i++) for (k = 1; k <= nmodes; k++) {
			if (v[ns[i], modes[k], metric] > ymax) ymax = v[ns[i], modes[k], metric]
			if (metric2 != "" && v[ns[i], modes[k], metric2] > ymax) ymax = v[ns[i], modes[k], metric2]
		}
		if (ymax <= 0) ymax = 1
		ymax *= 1.1
		xmin = lx(ns[1]); xmax = lx(ns[nn]); if (xmax == xmin) xmax = xmin + 1
		printf "<text x=\"%d\" y=\"24\" font-size=\"15\" font-weight=\"bold\">%s</text>\n", x0 + 10, title
		printf "<line x1=\"%d\" y1=\"340\" x2=\"%d\" y2=\"340\" stroke=\"black\"/><line x1=\"%d\" y1=\"40\" x2=\"%d\" y2=\"340\" stroke=\"black\"/>\n", x0 + 60, x0 + 420, x0 + 60, x0 + 60
		for (t = 0; t <= 4; t++) {
			y = 340 - t * 75
			printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/><text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%.0f</text>\n", x0 + 60, y, x0 + 420, y, x0 + 55, y + 4, ymax * t / 4
		}
		for (i = 1; i <= nn; i++) {
			x = x0 + 60 + (lx(ns[i]) - xmin) / (xmax - xmin) * 340 + 10
			printf "<text x=\"%.1f\" y=\"358\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n", x, ns[i]
		}
		printf "<text x=\"%d\" y=\"380\" font-size=\"12\" text-anchor=\"middle\">services (log scale)</text>\n", x0 + 240
		for (k = 1; k <= nmodes; k++) {
			pts = ""; pts2 = ""
			for (i = 1; i <= nn; i++) {
				if (!((ns[i], modes[k], metric) in v)) continue
				x = x0 + 60 + (lx(ns[i]) - xmin) / (xmax - xmin) * 340 + 10
				pts = pts sprintf("%.1f,%.1f ", x, 340 - v[ns[i], modes[k], metric] / ymax * 300)
				if (metric2 != "") pts2 = pts2 sprintf("%.1f,%.1f ", x, 340 - v[ns[i], modes[k], metric2] / ymax * 300)
			}
			printf "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" points=\"%s\"/>\n", color[modes[k]], pts
			if (pts2 != "") printf "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"5,4\" points=\"%s\"/>\n", color[modes[k]], pts2
		}
	}
	END {
		print "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"430\" font-family=\"sans-serif\">"
		print "<rect width=\"900\" height=\"430\" fill=\"white\"/>"
		panel(0, "new connections per second", "conn_rate", "")
		panel(450, "connect latency, us (p50 solid, p99 dashed)", "connect_p50_us", "connect_p99_us")
		for (k = 1; k <= nmodes; k++) {
			printf "<rect x=\"%d\" y=\"400\" width=\"14\" height=\"4\" fill=\"%s\"/><text x=\"%d\" y=\"406\" font-size=\"12\">%s</text>\n", 150 + (k - 1) * 120, color[modes[k]], 168 + (k - 1) * 120, modes[k]
		}
		print "</svg>"
	}' "$agg" >"$out/bench.svg"
echo "results: $out/results.json, table: $out/table.txt, plot: $out/bench.svg"
