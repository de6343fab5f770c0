export { forEachLimit, mapLimit } from './map-limit';
