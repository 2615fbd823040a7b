import { after, before, describe } from 'node:test';
import { type KafkaMock, kafkaBroker, startKafkaMock } from './clients.js';
import { brokerSuite } from './suite.js';

describe('integration: kafka (librdkafka mock cluster)', () => {
  let mock: KafkaMock;
  before(async () => {
    mock = await startKafkaMock([]);
  });
  after(async () => {
    await mock.stop();
  });
  brokerSuite(() => kafkaBroker(mock), { n: 10_000, restartN: 2000 });
});
