# SPDX-License-Identifier: Apache-2.0
# The soak's counts (bench/soak.sh): reads the held connections' events and writes one line per
# phase. Input: the lines of every `sl_probe --hold` log, each prefixed with "HOLDER SERVICE "
# (HOLDER tells apart the connection ids of different holders). Variables:
#   bounds      "NAME MS NAME MS ...": the phase marks in order (the last one ends the soak)
#   membership  a file of "MS SERVICE POD in|out": when a pod joined or left the Service's
#               serving set
#   grace       ms: a backend that left this shortly before a connection opened may carry it
# Output, tab-separated, one line per phase (events before the first mark are "warmup"):
#   phase seconds held answered failed stayed_lost left left_lost connfail stayed_reasons
#   left_reasons
# held: connections up at the phase's start; answered/failed: requests; stayed_lost: lost
# connections whose backend served throughout; left: connections whose backend left in the
# phase; left_lost: lost connections whose backend had left; reasons: "ENAME:N,..." or "-".

function phase_of(t, i, p)
{
	p = "warmup"
	for (i = 1; i <= nb; i++)
		if (t + 0 >= bt[i] + 0)
			p = bn[i]
	return p
}

# When the pod left the Service's serving set during a connection that opened at @open and
# ended at @to: the first "out" in [open - grace, to] (a removal the agent had not applied yet
# when the connection opened counts), or @open when the pod was out at @open; else -1.
function left_at(svc, pod, open, to, k, i, state)
{
	k = svc SUBSEP pod
	state = "out"
	for (i = 1; i <= nev[k] && evt[k, i] + 0 <= open - grace; i++)
		state = evs[k, i]
	for (; i <= nev[k] && evt[k, i] + 0 <= to + 0; i++) {
		if (evs[k, i] == "out")
			return evt[k, i]
		if (evt[k, i] + 0 <= open + 0)
			state = evs[k, i]
	}
	return state == "out" ? open : -1
}

function add_reason(arr, p, reason)
{
	arr[p] = arr[p] == "" ? reason : arr[p] "," reason
}

function tally(list, n, i, parts, seen, out, r)
{
	if (list == "")
		return "-"
	n = split(list, parts, ",")
	for (i = 1; i <= n; i++)
		seen[parts[i]]++
	out = ""
	for (r in seen)
		out = out (out == "" ? "" : ",") r ":" seen[r]
	return out
}

BEGIN {
	OFS = "\t"
	n = split(bounds, parts, /[ \n]+/)
	nb = 0
	for (i = 1; i + 1 <= n; i += 2) {
		if (parts[i] == "")
			continue
		nb++
		bn[nb] = parts[i]
		bt[nb] = parts[i + 1]
	}
	while ((getline line < membership) > 0) {
		split(line, f, " ")
		k = f[2] SUBSEP f[3]
		m = ++nev[k]
		evt[k, m] = f[1]
		evs[k, m] = f[4]
	}
}

$3 == "open" {
	k = $1 SUBSEP $5
	keys[++nc] = k
	c_svc[k] = $2
	c_pod[k] = $6
	c_open[k] = $4
}
$3 == "lost" {
	k = $1 SUBSEP $5
	c_end[k] = $4
	c_reason[k] = $7
}
$3 == "close" {
	c_end[$1 SUBSEP $5] = $4
}
$3 == "connfail" {
	connfail[phase_of($4)]++
}
$3 == "mark" {
	holders[$1] = 1
	for (i = 6; i <= NF; i++) {
		split($i, kv, "=")
		mk[$1, $5, kv[1]] = kv[2]
	}
}

END {
	for (i = 1; i <= nc; i++) {
		k = keys[i]
		end = (k in c_end) ? c_end[k] : bt[nb]
		la = left_at(c_svc[k], c_pod[k], c_open[k], end)
		if (la >= 0)
			left[phase_of(la)]++
		if (!(k in c_reason))
			continue
		p = phase_of(c_end[k])
		if (la >= 0) {
			left_lost[p]++
			add_reason(left_reasons, p, c_reason[k])
		} else {
			stayed_lost[p]++
			add_reason(stayed_reasons, p, c_reason[k])
		}
	}
	if (stayed_lost["warmup"] + left["warmup"] + left_lost["warmup"] + connfail["warmup"] > 0)
		print "warmup", 0, 0, 0, 0, stayed_lost["warmup"] + 0, left["warmup"] + 0,
		    left_lost["warmup"] + 0, connfail["warmup"] + 0, tally(stayed_reasons["warmup"]),
		    tally(left_reasons["warmup"])
	for (i = 1; i < nb; i++) {
		p = bn[i]
		held = answered = failed = 0
		for (h in holders) {
			held += mk[h, p, "open"]
			answered += mk[h, bn[i + 1], "answered"] - mk[h, p, "answered"]
			failed += mk[h, bn[i + 1], "failed"] - mk[h, p, "failed"]
		}
		print p, sprintf("%.1f", (bt[i + 1] - bt[i]) / 1000), held, answered, failed, stayed_lost[p] + 0, left[p] + 0, left_lost[p] + 0,
		    connfail[p] + 0, tally(stayed_reasons[p]), tally(left_reasons[p])
	}
}
