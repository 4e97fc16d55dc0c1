/**
 * A flame graph as a standalone SVG from folded stacks (`a;b;c <weight>` lines, as flamegraph.pl reads):
 * the root at the bottom, each frame as wide as the samples under it, hover for the name and share.
 */
interface Frame {
  name: string;
  value: number;
  children: Map<string, Frame>;
}

const WIDTH = 1600;
const ROW = 16;

const escape = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function colour(name: string): string {
  let hash = 0;
  for (const ch of name.split(' ')[1] ?? name) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  const ours = /^\/?(server|cli)\//.test(name.split(' ')[1] ?? '');
  return ours ? `hsl(${200 + (hash % 40)},60%,65%)` : `hsl(${hash % 50},80%,${55 + (hash % 15)}%)`;
}

export function flameSvg(folded: string, title: string): string {
  const root: Frame = { name: 'all', value: 0, children: new Map() };
  for (const line of folded.split('\n')) {
    const at = line.lastIndexOf(' ');
    const value = Number(line.slice(at + 1));
    if (!(value > 0)) continue;
    root.value += value;
    let node = root;
    for (const name of line.slice(0, at).split(';')) {
      let child = node.children.get(name);
      if (!child) node.children.set(name, (child = { name, value: 0, children: new Map() }));
      child.value += value;
      node = child;
    }
  }
  const rects: string[] = [];
  let depth = 0;
  const walk = (node: Frame, x: number, level: number) => {
    const width = (node.value / root.value) * WIDTH;
    if (width < 0.5) return;
    depth = Math.max(depth, level);
    const share = ((node.value / root.value) * 100).toFixed(2);
    const label = width > 40 ? escape(node.name.slice(0, Math.floor(width / 7))) : '';
    rects.push(
      `<g><title>${escape(node.name)} (${share} %)</title><rect x="${x.toFixed(1)}" y="{Y${level}}" width="${width.toFixed(1)}" height="${ROW - 1}" fill="${colour(node.name)}"/>` +
        `<text x="${(x + 3).toFixed(1)}" y="{T${level}}">${label}</text></g>`,
    );
    let cursor = x;
    for (const child of [...node.children.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      walk(child, cursor, level + 1);
      cursor += (child.value / root.value) * WIDTH;
    }
  };
  walk(root, 0, 0);
  const height = (depth + 3) * ROW;
  const body = rects
    .join('\n')
    .replace(/\{Y(\d+)\}/g, (_, l: string) => String(height - (Number(l) + 1) * ROW))
    .replace(/\{T(\d+)\}/g, (_, l: string) => String(height - (Number(l) + 1) * ROW + 11));
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="monospace" font-size="10">\n` +
    `<rect width="100%" height="100%" fill="#fff"/><text x="4" y="12" font-size="12">${escape(title)}</text>\n${body}\n</svg>\n`
  );
}
