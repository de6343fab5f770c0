import packageJson from '../../../package.json';

/** Tidemark's own version, recorded in every manifest and in the artifact's blob metadata. */
export const TOOL_VERSION: string = packageJson.version;
