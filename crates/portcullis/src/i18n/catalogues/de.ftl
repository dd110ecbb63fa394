# Portcullis auf Deutsch: die gehosteten Seiten und die E-Mails. Fehlt hier eine Meldung, gilt
# die englische (en.ftl).

## Rahmen jeder Seite
skip-to-content = Zum Inhalt springen
nav-account = Konto
nav-profile = Profil
nav-security = Sicherheit
nav-sessions = Sitzungen
nav-organizations = Organisationen
sign-out = Abmelden
show-password = Anzeigen
hide-password = Verbergen
your-account = Ihr Konto

## Anmeldung
sign-in-title = Anmelden
field-email = E-Mail
field-password = Passwort
remember-me = Auf diesem Gerät angemeldet bleiben
sign-in-button = Anmelden
social-heading = Oder weiter mit
forgot-password-link = Passwort vergessen?
create-account-link = Konto erstellen

## Registrierung
sign-up-title = Konto erstellen
field-name = Name
password-rules = Verwenden Sie { $min } bis { $max } Zeichen.
password-rules-strength = Gängige Passwörter und solche, die aus Ihrem Namen oder Ihrer E-Mail-Adresse gebildet sind, werden abgelehnt: Einige zusammenhanglose Wörter ergeben ein starkes Passwort.
password-verdict-ok = Dieses Passwort erfüllt die Regeln.
sign-up-button = Konto erstellen
have-account = Sie haben schon ein Konto?

## Passwort zurücksetzen
forgot-title = Passwort vergessen?
forgot-intro = Geben Sie Ihre E-Mail-Adresse ein, und wir senden Ihnen einen Link, mit dem Sie ein neues Passwort wählen können.
send-link = Link senden
back-to-sign-in = Zurück zur Anmeldung
reset-title = Neues Passwort wählen
field-new-password = Neues Passwort
field-current-password = Aktuelles Passwort
change-password-button = Passwort ändern

## Zwei-Faktor-Anmeldung
two-factor-title = Zwei-Faktor-Authentifizierung
code-from = Code aus
method-app = Meiner Authenticator-App
method-backup = Einem Backup-Code
field-code = Code
trust-device = Diesem Gerät vertrauen (diesen Schritt hier künftig überspringen)
verify-button = Bestätigen
start-over = Von vorn beginnen

## Konto
profile-heading = Profil
field-picture = Bild-URL (https)
save-profile = Profil speichern
email-heading = E-Mail
email-verified = bestätigt
email-not-verified = noch nicht bestätigt
resend-verification = Bestätigungslink erneut senden
field-new-email = Neue E-Mail-Adresse
change-email-button = E-Mail-Adresse ändern

## Sicherheit
security-title = Sicherheit
password-heading = Passwort
sign-out-others-check = Alle anderen Geräte abmelden
scan-code = Scannen Sie diesen Code mit Ihrer Authenticator-App, oder geben Sie den Schlüssel von Hand ein.
qr-label = QR-Code des Authenticator-Schlüssels
key-label = Schlüssel:
backup-codes-heading = Backup-Codes
backup-codes-intro = Jeder Code gilt einmal, wenn Sie die App nicht nutzen können. Bewahren Sie sie sicher auf: Sie werden nur jetzt angezeigt.
copy-codes = Codes kopieren
codes-copied = Kopiert
field-app-code = Code aus der App
turn-on-two-factor = Zwei-Faktor einschalten
two-factor-on = Die Zwei-Faktor-Authentifizierung ist eingeschaltet.
new-backup-codes-heading = Neue Backup-Codes
new-backup-codes-button = Neue Backup-Codes
turn-off-two-factor = Zwei-Faktor ausschalten
two-factor-off = Die Zwei-Faktor-Authentifizierung ist ausgeschaltet. Schalten Sie sie ein, damit bei der Anmeldung ein Code aus einer Authenticator-App verlangt wird.
set-up-two-factor = Zwei-Faktor einrichten
linked-accounts-heading = Verknüpfte Konten
no-linked-accounts = Mit Ihrem Konto ist kein Anmeldedienst verknüpft.
link-provider = { $provider } verknüpfen
unlink-button = Trennen
unlink-provider = { $provider } trennen

## Sitzungen
sessions-title = Sitzungen
sessions-intro = Geräte, die bei Ihrem Konto angemeldet sind.
this-device = Dieses Gerät
ip-address = IP-Adresse
ip-unknown = unbekannt
signed-in-at = Angemeldet
last-active = Zuletzt aktiv
sign-out-session = { $device } abmelden, angemeldet { $created }
sign-out-others-button = Alle anderen Geräte abmelden
unknown-device = Unbekanntes Gerät
device-on = { $browser } unter { $system }
device-on-system = Ein Browser unter { $system }

## Hinweise
form-refused-title = Formular nicht angenommen
form-refused-origin = Dieses Formular wurde von einer anderen Website gesendet und daher nicht angenommen.
form-refused-token = Dieses Formular ist abgelaufen. Gehen Sie zurück, laden Sie die Seite neu und versuchen Sie es noch einmal.
check-email-title = Sehen Sie in Ihr Postfach
check-email-verify = Wir haben Ihnen einen Link zur Bestätigung Ihrer Adresse gesendet. Öffnen Sie ihn und melden Sie sich dann an.
check-email-reset = Falls ein Konto diese Adresse nutzt, haben wir ihm einen Link zum Wählen eines neuen Passworts gesendet.
check-email-resent = Wir haben Ihnen einen neuen Link zur Bestätigung Ihrer Adresse gesendet.
check-new-inbox-title = Sehen Sie in Ihr neues Postfach
check-new-inbox = Wir haben einen Bestätigungslink an die neue Adresse gesendet. Ihre E-Mail-Adresse ändert sich, sobald Sie ihn öffnen.
sign-out-title = Abmelden
sign-out-question = Von diesem Browser abmelden?
link-invalid-title = Link ungültig
reset-link-invalid = Dieser Link zum Zurücksetzen ist ungültig, schon benutzt oder abgelaufen. Fordern Sie einen neuen an.
password-changed-title = Passwort geändert
password-changed-reset = Ihr Passwort ist geändert, und alle Sitzungen wurden beendet. Melden Sie sich mit dem neuen an.
password-changed = Ihr Passwort ist geändert.
email-verified-title = E-Mail-Adresse bestätigt
email-verified-message = Ihre E-Mail-Adresse ist bestätigt.
link-expired-title = Link abgelaufen
verify-link-expired = Dieser Bestätigungslink ist abgelaufen. Melden Sie sich an, um einen neuen zu erhalten.
verify-link-invalid = Dieser Bestätigungslink ist ungültig oder wurde schon benutzt.
error-title = Etwas ist schiefgegangen
error-generic = Etwas ist schiefgegangen. Versuchen Sie es noch einmal.
unknown-action-title = Unbekannte Aktion
unknown-action = Dieses Formular verlangt etwas, das diese Seite nicht kann.
challenge-expired = Diese Anmeldung ist abgelaufen oder hatte zu viele falsche Codes. Melden Sie sich erneut an.
too-many-requests-title = Zu viele Anfragen

## Organisationen
organizations-title = Organisationen
invitations-for-you = Einladungen für Sie
accept-button = Annehmen
decline-button = Ablehnen
accept-invitation-to = Die Einladung zu { $organization } annehmen
decline-invitation-to = Die Einladung zu { $organization } ablehnen
invitations-after-verification = Einladungen an { $email } erscheinen hier, sobald die Adresse bestätigt ist.
your-organizations = Ihre Organisationen
organization-active = Aktiv
switch-button = Wechseln
switch-to-organization = Zu { $organization } wechseln
no-organizations = Sie gehören noch keiner Organisation an.
members-of = Mitglieder von { $organization }
member-is-you = Sie
role-of = Rolle von { $member }
change-role-button = Rolle ändern
change-role-of = Rolle von { $member } ändern
member-role = Rolle: { $role }
remove-button = Entfernen
remove-member = { $member } entfernen
invite-heading = Jemanden einladen
field-invite-email = E-Mail-Adresse der einzuladenden Person
field-role = Rolle
send-invitation = Einladung senden
pending-invitations = Offene Einladungen
cancel-button = Zurückziehen
cancel-invitation-of = Die Einladung an { $email } zurückziehen
create-organization-heading = Organisation erstellen
field-organization-name = Name der Organisation
field-organization-slug = Kurzname für Links
organization-slug-hint = Buchstaben, Ziffern, '-', '_' oder '.'
create-organization-button = Organisation erstellen
role-owner = Inhaber
role-admin = Administrator
role-member = Mitglied

## Die Seite der Einladungs-E-Mail
invitation-title = Einladung
invitation-join = { $organization } beitreten
invitation-open = { $inviter } hat Sie eingeladen, { $organization } als { $role } beizutreten.
accept-invitation = Einladung annehmen
invitation-signed-out-title = Sie haben eine Einladung
invitation-signed-out = Melden Sie sich mit der E-Mail-Adresse an, an die die Einladung ging, oder erstellen Sie damit ein Konto.
invitation-unverified-title = Bestätigen Sie zuerst Ihre E-Mail-Adresse
invitation-unverified = Bestätigen Sie { $email }, bevor Sie auf diese Einladung antworten: Wir senden Ihnen einen Link, der Sie hierher zurückbringt.
send-confirmation-link = Bestätigungslink senden
invitation-verification-sent = Wir haben einen Link an { $email } gesendet. Öffnen Sie ihn, um zu dieser Einladung zurückzukehren.
invitation-declined-title = Einladung abgelehnt
invitation-declined = Sie haben die Einladung abgelehnt.
invitation-other-title = Diese Einladung gilt jemand anderem
invitation-other = Sie wurde an eine andere Adresse als { $email } gesendet. Melden Sie sich ab und dann mit der eingeladenen Adresse wieder an.
invitation-invalid-title = Einladung ungültig
invitation-invalid = Diese Einladung wurde schon beantwortet, zurückgezogen oder ist abgelaufen. Bitten Sie um eine neue.

## Fehler neben einem Feld
error-INVALID_EMAIL_OR_PASSWORD = E-Mail-Adresse oder Passwort ist falsch
error-INVALID_EMAIL = Ungültige E-Mail-Adresse
error-USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL = Diese E-Mail-Adresse ist vergeben. Melden Sie sich an oder verwenden Sie eine andere.
error-EMAIL_IS_THE_SAME = Das ist bereits Ihre E-Mail-Adresse.
error-INVALID_NAME = Geben Sie einen Namen ein.
error-INVALID_IMAGE = Das Bild muss eine https-URL sein.
error-PASSWORD_TOO_SHORT = Das Passwort ist zu kurz: Verwenden Sie mindestens { $min } Zeichen.
error-PASSWORD_TOO_LONG = Das Passwort ist zu lang: Verwenden Sie höchstens { $max } Zeichen.
error-INVALID_PASSWORD = Das Passwort ist nicht korrekt.
error-INVALID_CODE = Der Code ist nicht korrekt.
error-INVALID_BACKUP_CODE = Der Backup-Code ist nicht korrekt oder wurde schon benutzt.
error-EMAIL_NOT_VERIFIED = Bestätigen Sie zuerst Ihre E-Mail-Adresse: Wir haben Ihnen einen Link gesendet.
error-TOO_MANY_REQUESTS = Zu viele Versuche. Warten Sie einen Moment und versuchen Sie es noch einmal.
error-FAILED_TO_UNLINK_LAST_ACCOUNT = Das ist Ihre letzte Möglichkeit, sich anzumelden: Sie kann nicht entfernt werden.
error-IMPERSONATED_SESSION_RESTRICTED = Nicht erlaubt, während Sie als eine andere Person angemeldet sind.
error-SESSION_NOT_FRESH = Melden Sie sich erneut an, um diese Änderung vorzunehmen.
error-ACCOUNT_NOT_FOUND = Dieses Konto gibt es nicht.
error-PROVIDER_NOT_FOUND = Dieser Anmeldedienst ist nicht verfügbar.

## Fehler der Organisationsseiten
error-ORGANIZATION_ALREADY_EXISTS = Diese Organisation gibt es schon.
error-ORGANIZATION_SLUG_ALREADY_TAKEN = Dieser Kurzname ist schon vergeben.
error-ORGANIZATION_NOT_FOUND = Diese Organisation gibt es nicht.
error-YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION = Sie sind kein Mitglied dieser Organisation.
error-YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_ORGANIZATION = Sie dürfen keine neue Organisation erstellen.
error-YOU_HAVE_REACHED_THE_MAXIMUM_NUMBER_OF_ORGANIZATIONS = Sie haben die Höchstzahl an Organisationen erreicht.
error-MEMBER_NOT_FOUND = Dieses Mitglied gibt es nicht.
error-ROLE_NOT_FOUND = Diese Rolle gibt es nicht.
error-YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER = Als einziger Inhaber können Sie die Organisation nicht verlassen.
error-YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER = Die Organisation darf nicht ohne Inhaber bleiben.
error-YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER = Sie dürfen dieses Mitglied nicht entfernen.
error-YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER = Sie dürfen dieses Mitglied nicht ändern.
error-ORGANIZATION_MEMBERSHIP_LIMIT_REACHED = Die Organisation hat die Höchstzahl an Mitgliedern erreicht.
error-YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION = Sie dürfen niemanden in diese Organisation einladen.
error-YOU_ARE_NOT_ALLOWED_TO_INVITE_USER_WITH_THIS_ROLE = Sie dürfen niemanden mit dieser Rolle einladen.
error-USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION = Diese Person ist schon Mitglied der Organisation.
error-USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION = Diese Person ist schon in die Organisation eingeladen.
error-INVITATION_NOT_FOUND = Diese Einladung gibt es nicht.
error-INVITATION_LIMIT_REACHED = Die Höchstzahl an Einladungen ist erreicht.
error-YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION = Sie dürfen diese Einladung nicht zurückziehen.
error-INVITER_IS_NO_LONGER_A_MEMBER_OF_THE_ORGANIZATION = Wer eingeladen hat, ist kein Mitglied der Organisation mehr.

## E-Mails
mail-hello = Hallo { $name },
mail-verify-subject = Bestätigen Sie Ihre E-Mail-Adresse für { $product }
mail-verify-body = Bitte bestätigen Sie, dass { $email } Ihre E-Mail-Adresse ist, indem Sie diesen Link öffnen:
mail-verify-button = Meine E-Mail-Adresse bestätigen
mail-verify-footer = Der Link gilt einmal und läuft in { $expires } ab. Wenn Sie sich nicht bei { $product } registriert haben, ignorieren Sie diese Nachricht.
mail-reset-subject = Setzen Sie Ihr Passwort für { $product } zurück
mail-reset-body = Jemand hat verlangt, das Passwort Ihres Kontos bei { $product } ({ $email }) zurückzusetzen. Um ein neues zu wählen, öffnen Sie diesen Link:
mail-reset-button = Neues Passwort wählen
mail-reset-footer = Der Link gilt einmal und läuft in { $expires } ab. Wenn Sie das nicht verlangt haben, ignorieren Sie diese Nachricht: Ihr Passwort bleibt, wie es ist.
mail-password-changed-subject = Ihr Passwort für { $product } wurde geändert
mail-password-changed-body = Das Passwort Ihres Kontos bei { $product } ({ $email }) wurde soeben zurückgesetzt, und alle Geräte wurden abgemeldet.
mail-password-changed-footer = Wenn Sie das nicht waren, setzen Sie Ihr Passwort sofort erneut zurück und wenden Sie sich an den Support.
mail-change-email-subject = Bestätigen Sie Ihre neue E-Mail-Adresse für { $product }
mail-change-email-body = Um { $new_email } zur E-Mail-Adresse Ihres Kontos bei { $product } zu machen, öffnen Sie diesen Link:
mail-change-email-button = Meine neue E-Mail-Adresse bestätigen
mail-change-email-footer = Der Link gilt einmal und läuft in { $expires } ab. Bis dahin bleibt Ihre Adresse { $email }. Wenn Sie das nicht verlangt haben, ignorieren Sie diese Nachricht.
mail-email-notice-subject = Eine Änderung Ihrer E-Mail-Adresse für { $product } wurde angefordert
mail-email-notice-body = Jemand, der bei Ihrem Konto bei { $product } angemeldet ist, hat verlangt, dessen E-Mail-Adresse { $email } zu ändern. Die Änderung wird erst wirksam, wenn die neue Adresse sie bestätigt.
mail-email-notice-footer = Wenn Sie das nicht waren, ändern Sie Ihr Passwort und melden Sie alle Geräte ab.
mail-existing-subject = Sie haben bereits ein Konto bei { $product }
mail-existing-body = Jemand hat versucht, mit { $email } ein Konto bei { $product } zu erstellen, aber Sie haben bereits eines. Melden Sie sich stattdessen an; wenn Sie Ihr Passwort vergessen haben, setzen Sie es auf der Anmeldeseite zurück.
mail-existing-footer = Wenn Sie das nicht waren, ignorieren Sie diese Nachricht.
mail-hello-anyone = Hallo,
mail-invitation-subject = { $inviter } hat Sie zu { $organization } bei { $product } eingeladen
mail-invitation-body = { $inviter } hat { $email } eingeladen, { $organization } bei { $product } beizutreten.
mail-invitation-link = Um anzunehmen oder abzulehnen, öffnen Sie diesen Link und melden Sie sich mit dieser Adresse an:
mail-invitation-button = Einladung öffnen
mail-invitation-no-link = Um anzunehmen oder abzulehnen, melden Sie sich mit dieser Adresse bei { $product } an und öffnen Sie Ihre Einladungen. Die Kennung der Einladung lautet:
mail-invitation-footer = Die Einladung läuft in { $expires } ab. Wenn Sie sie nicht erwartet haben, ignorieren Sie diese Nachricht.
duration-hours = { $n ->
    [one] einer Stunde
   *[other] { $n } Stunden
}
duration-minutes = { $n ->
    [one] einer Minute
   *[other] { $n } Minuten
}

## The error page after social sign-in: one message per code social/ redirects with (`?error=`).
error-social-access_denied = Die Anmeldung wurde beim Anbieter abgebrochen oder der Zugriff verweigert. Versuchen Sie es erneut, wenn Sie sich anmelden wollten.
error-social-state_mismatch = Diese Anmeldung ist abgelaufen oder wurde in einem anderen Browser begonnen. Starten Sie sie erneut auf der Anmeldeseite.
error-social-state_not_found = Diese Anmeldung ist abgelaufen oder wurde in einem anderen Browser begonnen. Starten Sie sie erneut auf der Anmeldeseite.
error-social-no_code = Die Antwort des Anbieters war nicht verwendbar. Starten Sie die Anmeldung erneut.
error-social-invalid_code = Die Antwort des Anbieters war nicht verwendbar. Starten Sie die Anmeldung erneut.
error-social-issuer_mismatch = Die Antwort des Anbieters war nicht verwendbar. Starten Sie die Anmeldung erneut.
error-social-issuer_missing = Die Antwort des Anbieters war nicht verwendbar. Starten Sie die Anmeldung erneut.
error-social-unable_to_get_user_info = Der Anbieter hat nicht mitgeteilt, wer Sie sind. Versuchen Sie es später erneut oder melden Sie sich anders an.
error-social-email_not_found = Der Anbieter hat keine E-Mail-Adresse geteilt. Erlauben Sie das Teilen Ihrer E-Mail-Adresse oder melden Sie sich anders an.
error-social-account_not_linked = Ein Konto mit dieser E-Mail-Adresse existiert bereits. Melden Sie sich mit seinem Passwort an und verknüpfen Sie dann diesen Anbieter auf der Sicherheitsseite Ihres Kontos.
error-social-account_already_linked_to_different_user = Dieses Anbieterkonto ist bereits mit einem anderen Benutzer verknüpft.
error-social-email_does_not_match = Die E-Mail-Adresse des Anbieterkontos ist nicht die Ihres Kontos, daher wurde es nicht verknüpft.
error-social-unable_to_link_account = Das Anbieterkonto konnte nicht verknüpft werden. Verknüpfen Sie es erneut auf der Sicherheitsseite Ihres Kontos.
error-social-signup_disabled = Für diese E-Mail-Adresse existiert kein Konto, und neue Konten können hier nicht angelegt werden.
error-social-unable_to_create_user = Ihr Konto konnte nicht angelegt werden. Versuchen Sie es später erneut.
error-social-oauth_provider_not_found = Dieser Anmeldeanbieter ist nicht verfügbar.
error-social-oauth_provider_error = Der Anbieter hat einen Fehler gemeldet. Versuchen Sie es später erneut.
error-social-server_error = Der Anbieter hat einen Fehler gemeldet. Versuchen Sie es später erneut.
error-social-temporarily_unavailable = Der Anbieter hat einen Fehler gemeldet. Versuchen Sie es später erneut.
