import { describeBinary } from './binary-suite.js';

describeBinary('linux-arm64');
