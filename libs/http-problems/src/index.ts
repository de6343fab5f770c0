export {
  MAX_BODY_BYTES,
  PROBLEM_CONTENT_TYPE,
  problem,
  ProblemDetailsFilter,
  useProblemDetailsForBodies,
  writeProblem,
  type ProblemDetails,
  type ProblemResponse,
} from './problem-details';
