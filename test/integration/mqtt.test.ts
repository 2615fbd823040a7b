import { describe } from 'node:test';
import { mqttBroker } from './clients.js';
import { brokerSuite } from './suite.js';

describe('integration: mqtt', () => brokerSuite(mqttBroker, { n: 10_000, restartN: 800, step: 500 }));
