import { describe } from 'node:test';
import { amqpBroker } from './clients.js';
import { brokerSuite } from './suite.js';

describe('integration: amqp', () => brokerSuite(amqpBroker, { n: 10_000, restartN: 2000 }));
