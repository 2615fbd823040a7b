import { describe } from 'node:test';
import { redisBroker } from './clients.js';
import { brokerSuite } from './suite.js';

describe('integration: redis', () => brokerSuite(redisBroker, { n: 10_000, restartN: 2000 }));
