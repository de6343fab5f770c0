export { errorData, redact } from './redact';
