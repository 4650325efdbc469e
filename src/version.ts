// The version reported in stopline_build_info and the logs.
export const version = '0.1.0';
