// The one HTML escaper of the package (drift page, evaluation report, its SVG plots, server pages):
// text and attribute values alike, quotes included.
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** [sync] `s` with &, <, >, " and ' replaced by their entities. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}
