"""Admin forms (Flask-WTF: every form carries a CSRF token)."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Length


MAX_EMAIL_LENGTH = 320


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=MAX_EMAIL_LENGTH)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class PushCertificateForm(FlaskForm):
    certificate = FileField("Push certificate (PEM or PKCS#12 .p12)", validators=[FileRequired()])
    key = FileField("Private key (PEM; not needed for PKCS#12 or a PEM that includes the key)")
    password = PasswordField("Password (of the PKCS#12 file or the key, if any)", validators=[Length(max=1024)])
    allow_topic_change = BooleanField("I understand the topic changes: every enrolled device must enroll again")
