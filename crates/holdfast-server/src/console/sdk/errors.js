/**
 * The errors the SDK throws. Each has a stable `code`: the OAuth error code
 * where the server sent one (RFC 6749 §5.2, RFC 6750 §3.1, RFC 9449,
 * RFC 9470), otherwise one of the SDK's own (`network_error`,
 * `login_required`, ...).
 *
 * Two questions an app usually asks, each answered by a class:
 * - "Is the user still signed in?" — after a {@link TransientError} yes
 *   (try again later); after a {@link LoginRequiredError} no.
 * - "Does this call need a fresher login?" — {@link StepUpRequiredError}.
 *
 * @module
 */
/** Any error from the SDK. */
export class HoldfastError extends Error {
    /** OAuth error code or SDK code. */
    code;
    /** HTTP status, when the error came from a response. */
    status;
    /** The server's `error_description`, if any. */
    description;
    constructor(code, message, options = {}) {
        super(message, options.cause === undefined ? undefined : { cause: options.cause });
        this.name = "HoldfastError";
        this.code = code;
        this.status = options.status;
        this.description = options.description;
    }
}
/**
 * The request may succeed if repeated: the network failed, the response
 * was lost or late, or the server answered 5xx / 429. The session is kept.
 */
export class TransientError extends HoldfastError {
    constructor(code, message, options = {}) {
        super(code, message, options);
        this.name = "TransientError";
    }
}
/**
 * There is no usable session: never signed in, signed out (here or in
 * another tab), or the server ended the session (revoked, expired, reuse
 * detected). The app should offer sign-in.
 */
export class LoginRequiredError extends HoldfastError {
    constructor(message, options = {}) {
        super("login_required", message, options);
        this.name = "LoginRequiredError";
    }
}
/**
 * The resource server wants a more recent or stronger login
 * ([RFC 9470](https://www.rfc-editor.org/rfc/rfc9470) `insufficient_user_authentication`).
 * Answer with `signInWithRedirect({ maxAge, acrValues })` and retry.
 */
export class StepUpRequiredError extends HoldfastError {
    /** `max_age` from the challenge: the login must be at most this old (seconds). */
    maxAge;
    /** `acr_values` from the challenge. */
    acrValues;
    /** The response that carried the challenge. */
    response;
    constructor(response, params) {
        super("insufficient_user_authentication", params.error_description ?? "a more recent or stronger login is required", {
            status: response.status,
            description: params.error_description,
        });
        this.name = "StepUpRequiredError";
        this.response = response;
        const maxAge = params.max_age === undefined ? NaN : Number(params.max_age);
        this.maxAge = Number.isFinite(maxAge) ? maxAge : undefined;
        this.acrValues = params.acr_values;
    }
}
/**
 * The password was right, but the tenant wants a verified address first
 * (`insufficient_authorization` from the authorization challenge
 * endpoint): a code was just mailed to `email`. Pass it with `ticket` to
 * `verifyEmail`, then sign in again.
 */
export class EmailVerificationRequiredError extends HoldfastError {
    /** Where the code went. */
    email;
    /** Names the mailed code for `verifyEmail`. */
    ticket;
    constructor(email, ticket, description) {
        super("insufficient_authorization", description ?? "verify the email address first", { status: 400, description });
        this.name = "EmailVerificationRequiredError";
        this.email = email;
        this.ticket = ticket;
    }
}
