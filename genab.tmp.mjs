import { MemoryBroker as MA } from './tmpbefore/dist/src/brokers/memory.js';
import { generate as gA } from './tmpbefore/dist/src/brokers/synthetic.js';
import { MemoryBroker as MB } from './dist/src/brokers/memory.js';
import { generate as gB } from './dist/src/brokers/synthetic.js';
const res = { before: [], after: [] };
for (let r = 0; r < 12; r++) {
  for (const [name, M, g] of [['before', MA, gA], ['after', MB, gB]]) {
    const m = new M({ name: 'd', partitions: 4, retention: 1000 });
    m.createChannel('in');
    const t = performance.now();
    await g(m, 'in', { count: 500_000, size: 100 });
    res[name].push((performance.now() - t) * 1e6 / 5e5);
  }
}
for (const k of ['before', 'after']) { const a = res[k].slice(2).sort((x, y) => x - y); console.log(k, 'median ns/record', a[a.length >> 1].toFixed(1), 'all', a.map((x) => x.toFixed(0)).join(' ')); }
