/** The SDK's version (also in package.json and the server's X-Rtcloud-SDK-Version header). */
export const VERSION = '0.2.0';
