// The keystroke benchmark: what the playground computes for one keystroke
// at 200 Services (8k lines of YAML), run in the built wasm under node.
// Checks the budget (keystroke -> every visible output <= 50 ms, compute
// part, in CPU time so that a busy machine does not fail it) and says where the time goes: parse (only the edited YAML
// document is read again), load (libsvc::load_parsed: validate, resolve),
// render of the visible output, diagnostics, the trace form's addresses.
// The browser's part (DOM diff, layout, paint) is measured by the e2e test
// (web/tests/e2e, "speed").
//
//   web/build.sh && node web/bench.mjs [--services N] [--budget MS]
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(process.env.SVCGEN_DIST ?? path.join(here, "dist"));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const n = arg("--services", 200);
const budget = arg("--budget", 50);

const glue = await import(path.join(dist, "svcgen_web.js"));
glue.initSync({ module: fs.readFileSync(path.join(dist, "svcgen_web_bg.wasm")) });

// The same input as the e2e test's "200 Services".
const text = Array.from({ length: n }, (_, i) => `apiVersion: v1
kind: Service
metadata:
  name: svc-${i}
  namespace: ns-${i % 10}
spec:
  clusterIP: 10.96.${Math.floor(i / 200) + 2}.${(i % 200) + 1}
  selector:
    app: svc-${i}
  ports:
  - name: http
    port: 80
    targetPort: 8080
  - name: metrics
    port: 9090
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: svc-${i}-a
  namespace: ns-${i % 10}
  labels:
    kubernetes.io/service-name: svc-${i}
addressType: IPv4
ports:
- name: http
  port: 8080
- name: metrics
  port: 9090
endpoints:
- addresses: ["10.244.${i % 250}.5"]
- addresses: ["10.244.${i % 250}.6"]
`).join("---\n");

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => x.toFixed(1);
let failed = false;
// Keystrokes in the middle of the text (a label value), typed then deleted.
const at = text.indexOf(`app: svc-${Math.floor(n / 2)}\n`) + `app: svc-${Math.floor(n / 2)}`.length;
const keystrokes = (session, mode, count) => {
  const runs = [];
  for (let k = 0; k < count; k++) {
    const edited = k % 2 === 0 ? text.slice(0, at) + "x" + text.slice(at) : text;
    const [t0, c0] = [performance.now(), process.cpuUsage()];
    const t = JSON.parse(session.update(edited, mode));
    const c = process.cpuUsage(c0);
    t.wall = performance.now() - t0;
    // CPU time: what the update costs on a core of its own, whatever else
    // the machine runs (wall time waits for the CPU on a busy machine).
    t.cpu = (c.user + c.system) / 1000;
    runs.push(t);
  }
  return (k) => median(runs.map((r) => r[k]));
};
for (const mode of ["iptables", "nftables", "ipvs", "env", "dns"]) {
  const session = new glue.Session("{}");
  const first = JSON.parse(session.update(text, mode));
  // Before: the whole text read on every keystroke (the same machine, the same moment).
  const whole = new glue.Session("{}");
  whole.readWhole(true);
  const b = keystrokes(whole, mode, 6);
  const m = keystrokes(session, mode, 20);
  console.log(
    `${mode}: keystroke ${fmt(m("cpu"))} ms CPU, ${fmt(m("wall"))} ms wall, median (parse ${fmt(m("parse"))}, load ${fmt(m("load"))}, rest ${fmt(m("rest"))}, ` +
      `render ${fmt(m("render"))}, diagnostics ${fmt(m("diagnostics"))}, targets ${fmt(m("targets"))}; ` +
      `${m("reparsed")}/${m("documents")} documents read again); ` +
      `reading the whole text: ${fmt(b("cpu"))} ms CPU, ${fmt(b("wall"))} ms wall (parse ${fmt(b("parse"))}); first update ${fmt(first.total)} ms`,
  );
  if (m("cpu") > budget) {
    console.log(`  over the budget of ${budget} ms`);
    failed = true;
  }
}
console.log(`${n} Services, ${text.split("\n").length} lines; budget ${budget} ms CPU per keystroke (compute); phases in wall time`);
process.exit(failed ? 1 : 0);
