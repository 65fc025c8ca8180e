// The kernel's tests read /metrics with the harness's strict Prometheus reader.
export { parsePrometheus as parseExposition, type ParsedFamily, type ParsedSample } from '../../sdk/testing/prometheus.ts';
