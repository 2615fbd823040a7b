import { describe } from 'node:test';
import { natsBroker } from './clients.js';
import { brokerSuite } from './suite.js';

describe('integration: nats', () => brokerSuite(natsBroker, { n: 10_000, restartN: 2000 }));
