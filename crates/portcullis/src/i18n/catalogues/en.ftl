# Portcullis' English messages: the hosted pages and the mails. Every other catalogue falls back
# to this one for a message it lacks. Fluent syntax: https://projectfluent.org/fluent/guide/
# Arguments are { $name }; plurals are selectors on numbers.

## The frame of every page
skip-to-content = Skip to content
nav-account = Account
nav-profile = Profile
nav-security = Security
nav-sessions = Sessions
nav-organizations = Organizations
sign-out = Sign out
show-password = Show
hide-password = Hide
your-account = Your account

## Sign-in
sign-in-title = Sign in
field-email = Email
field-password = Password
remember-me = Keep me signed in on this device
sign-in-button = Sign in
social-heading = Or continue with
forgot-password-link = Forgot your password?
create-account-link = Create an account

## Sign-up
sign-up-title = Create an account
field-name = Name
password-rules = Use { $min } to { $max } characters.
password-rules-strength = Common passwords, and passwords built from your name or email, are refused: a few unrelated words make a strong one.
password-verdict-ok = This password meets the rules.
sign-up-button = Create account
have-account = Already have an account?

## Password reset
forgot-title = Forgot your password?
forgot-intro = Enter your email address and we will send you a link to choose a new password.
send-link = Send the link
back-to-sign-in = Back to sign in
reset-title = Choose a new password
field-new-password = New password
field-current-password = Current password
change-password-button = Change password

## Two-factor sign-in
two-factor-title = Two-factor authentication
code-from = Code from
method-app = My authenticator app
method-backup = A backup code
field-code = Code
trust-device = Trust this device (skip this step here next time)
verify-button = Verify
start-over = Start over

## Account
profile-heading = Profile
field-picture = Picture URL (https)
save-profile = Save profile
email-heading = Email
email-verified = verified
email-not-verified = not verified yet
resend-verification = Send the verification link again
field-new-email = New email
change-email-button = Change email

## Security
security-title = Security
password-heading = Password
sign-out-others-check = Sign out every other device
scan-code = Scan this code with your authenticator app, or enter the key by hand.
qr-label = QR code of the authenticator key
key-label = Key:
backup-codes-heading = Backup codes
backup-codes-intro = Each works once, when you cannot use the app. Keep them somewhere safe: they are shown only now.
copy-codes = Copy the codes
codes-copied = Copied
field-app-code = Code from the app
turn-on-two-factor = Turn on two-factor
two-factor-on = Two-factor authentication is on.
new-backup-codes-heading = New backup codes
new-backup-codes-button = New backup codes
turn-off-two-factor = Turn off two-factor
two-factor-off = Two-factor authentication is off. Turn it on to ask for a code from an authenticator app at sign-in.
set-up-two-factor = Set up two-factor
linked-accounts-heading = Linked accounts
no-linked-accounts = No sign-in provider is linked to your account.
link-provider = Link { $provider }
unlink-button = Unlink
unlink-provider = Unlink { $provider }

## Sessions
sessions-title = Sessions
sessions-intro = Devices signed in to your account.
this-device = This device
ip-address = IP address
ip-unknown = unknown
signed-in-at = Signed in
last-active = Last active
sign-out-session = Sign out { $device }, signed in { $created }
sign-out-others-button = Sign out every other device
unknown-device = Unknown device
device-on = { $browser } on { $system }
device-on-system = A browser on { $system }

## Notices
form-refused-title = Form not accepted
form-refused-origin = This form was sent from another site, so it was not accepted.
form-refused-token = This form has expired. Go back, reload the page and try again.
check-email-title = Check your email
check-email-verify = We sent a link to confirm your address. Open it, then sign in.
check-email-reset = If an account uses this address, we sent it a link to choose a new password.
check-email-resent = We sent a new link to confirm your address.
check-new-inbox-title = Check your new inbox
check-new-inbox = We sent a confirmation link to the new address. Your email changes when you open it.
sign-out-title = Sign out
sign-out-question = Sign out of this browser?
link-invalid-title = Link not valid
reset-link-invalid = This reset link is invalid, used or expired. Ask for a new one.
password-changed-title = Password changed
password-changed-reset = Your password is changed and every session has ended. Sign in with the new one.
password-changed = Your password is changed.
email-verified-title = Email verified
email-verified-message = Your email address is confirmed.
link-expired-title = Link expired
verify-link-expired = This verification link has expired. Sign in to get a new one.
verify-link-invalid = This verification link is invalid or was already used.
error-title = Something went wrong
error-generic = Something went wrong. Try again.
unknown-action-title = Unknown action
unknown-action = This form asked for something this page does not do.
challenge-expired = That sign-in has expired or had too many wrong codes. Sign in again.
too-many-requests-title = Too many requests

## Organizations
organizations-title = Organizations
invitations-for-you = Invitations for you
accept-button = Accept
decline-button = Decline
accept-invitation-to = Accept the invitation to { $organization }
decline-invitation-to = Decline the invitation to { $organization }
invitations-after-verification = Invitations sent to { $email } appear here once the address is verified.
your-organizations = Your organizations
organization-active = Active
switch-button = Switch to
switch-to-organization = Switch to { $organization }
no-organizations = You are not in any organization yet.
members-of = Members of { $organization }
member-is-you = You
role-of = Role of { $member }
change-role-button = Change role
change-role-of = Change role of { $member }
member-role = Role: { $role }
remove-button = Remove
remove-member = Remove { $member }
invite-heading = Invite someone
field-invite-email = Email of the person to invite
field-role = Role
send-invitation = Send invitation
pending-invitations = Pending invitations
cancel-button = Cancel
cancel-invitation-of = Cancel the invitation of { $email }
create-organization-heading = Create an organization
field-organization-name = Organization name
field-organization-slug = Short name for links
organization-slug-hint = Letters, digits, '-', '_' or '.'
create-organization-button = Create organization
# The built-in roles; a custom role is shown as it is named.
role-owner = Owner
role-admin = Admin
role-member = Member

## The invitation mail's page
invitation-title = Invitation
invitation-join = Join { $organization }
invitation-open = { $inviter } invited you to join { $organization } as { $role }.
accept-invitation = Accept invitation
invitation-signed-out-title = You have an invitation
invitation-signed-out = Sign in, or create an account, with the email address the invitation was sent to.
invitation-unverified-title = Confirm your email first
invitation-unverified = Confirm { $email } before you answer this invitation: we send a link, and it brings you back here.
send-confirmation-link = Send the confirmation link
invitation-verification-sent = We sent a link to { $email }. Open it to come back to this invitation.
invitation-declined-title = Invitation declined
invitation-declined = You declined the invitation.
invitation-other-title = This invitation is for someone else
invitation-other = It was sent to another address than { $email }. Sign out, then sign in with the invited address.
invitation-invalid-title = Invitation not valid
invitation-invalid = This invitation was already answered, canceled, or has expired. Ask for a new one.

## Errors shown on the pages are `error-<CODE>` messages (`error-INVALID_CODE = ...`). English
## has none: the server's own English text is shown. Other catalogues translate them (de.ftl);
## an operator's en.ftl may add some to reword them.

## Mails
mail-hello = Hello { $name },
mail-verify-subject = Confirm your email for { $product }
mail-verify-body = Please confirm that { $email } is your email address by opening this link:
mail-verify-button = Confirm my email
mail-verify-footer = The link works once and expires in { $expires }. If you did not sign up for { $product }, ignore this message.
mail-reset-subject = Reset your { $product } password
mail-reset-body = Someone asked to reset the password of your { $product } account ({ $email }). To choose a new password, open this link:
mail-reset-button = Choose a new password
mail-reset-footer = The link works once and expires in { $expires }. If you did not ask for this, ignore this message: your password stays as it is.
mail-password-changed-subject = Your { $product } password was changed
mail-password-changed-body = The password of your { $product } account ({ $email }) was just reset, and every device was signed out.
mail-password-changed-footer = If this was not you, reset your password again at once and contact support.
mail-change-email-subject = Confirm your new email for { $product }
mail-change-email-body = To make { $new_email } the email address of your { $product } account, open this link:
mail-change-email-button = Confirm my new email
mail-change-email-footer = The link works once and expires in { $expires }. Until then your address stays { $email }. If you did not ask for this, ignore this message.
mail-email-notice-subject = A change of your { $product } email was requested
mail-email-notice-body = Someone signed in to your { $product } account asked to change its email address from { $email }. The change happens only when the new address confirms it.
mail-email-notice-footer = If this was not you, change your password and sign out every device.
mail-existing-subject = You already have a { $product } account
mail-existing-body = Someone tried to create a { $product } account with { $email }, but you already have one. Sign in instead; if you forgot your password, reset it from the sign-in page.
mail-existing-footer = If this was not you, ignore this message.
mail-hello-anyone = Hello,
mail-invitation-subject = { $inviter } invited you to { $organization } on { $product }
mail-invitation-body = { $inviter } invited { $email } to join { $organization } on { $product }.
mail-invitation-link = To accept or decline, open this link and sign in with this address:
mail-invitation-button = Open the invitation
mail-invitation-no-link = To accept or decline, sign in to { $product } with this address and open your invitations. The invitation id is:
mail-invitation-footer = The invitation expires in { $expires }. If you did not expect it, ignore this message.
duration-hours = { $n ->
    [one] one hour
   *[other] { $n } hours
}
duration-minutes = { $n ->
    [one] one minute
   *[other] { $n } minutes
}

## The error page after social sign-in: one message per code social/ redirects with (`?error=`).
error-social-access_denied = The sign-in was cancelled at the provider, or it refused access. Try again if you meant to sign in.
error-social-state_mismatch = This sign-in expired or was started in another browser. Start it again from the sign-in page.
error-social-state_not_found = This sign-in expired or was started in another browser. Start it again from the sign-in page.
error-social-no_code = The provider's answer could not be used. Start the sign-in again.
error-social-invalid_code = The provider's answer could not be used. Start the sign-in again.
error-social-issuer_mismatch = The provider's answer could not be used. Start the sign-in again.
error-social-issuer_missing = The provider's answer could not be used. Start the sign-in again.
error-social-unable_to_get_user_info = The provider did not tell us who you are. Try again later, or sign in another way.
error-social-email_not_found = The provider did not share an email address. Allow it to share your email, or sign in another way.
error-social-account_not_linked = An account with this email already exists. Sign in with its password, then link this provider from your account's security page.
error-social-account_already_linked_to_different_user = This provider account is already linked to another user.
error-social-email_does_not_match = The provider account's email is not the email of your account, so it was not linked.
error-social-unable_to_link_account = The provider account could not be linked. Link it again from your account's security page.
error-social-signup_disabled = No account exists for this email and new accounts cannot be created here.
error-social-unable_to_create_user = Your account could not be created. Try again later.
error-social-oauth_provider_not_found = This sign-in provider is not available.
error-social-oauth_provider_error = The provider reported an error. Try again later.
error-social-server_error = The provider reported an error. Try again later.
error-social-temporarily_unavailable = The provider reported an error. Try again later.
