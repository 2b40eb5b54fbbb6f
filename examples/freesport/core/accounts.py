"""Customer accounts over the API: register, log in, and the signed token the other endpoints take.

POST /api/v1/auth/register/  {"username", "password", "email"?}  -> 201 {"id", "username"}; 409 if taken
POST /api/v1/auth/login/     {"username", "password"}            -> 200 {"token", "user", "last_login"}; 401

A login updates auth_user.last_login, as Django's own login does (the user_logged_in signal). The token
is signed with the SECRET_KEY and needs no table: `Authorization: Token <token>`. It names the user and a
digest of the password hash, so it stops working when the password changes; it expires after
FREESPORT_TOKEN_MAX_AGE seconds (default one day).
"""
import hmac

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework import authentication, exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

TOKEN_SALT = 'freesport.api-token'


def issue_token(user):
    return signing.dumps({'u': user.pk, 'h': user.get_session_auth_hash()[:20]}, salt=TOKEN_SALT)


class SignedTokenAuthentication(authentication.BaseAuthentication):
    keyword = 'Token'

    def authenticate(self, request):
        header = request.META.get('HTTP_AUTHORIZATION', '')
        parts = header.split()
        if not parts or parts[0] != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed('Authorization: Token <token> expected.')
        max_age = settings.FREESPORT_TOKEN_MAX_AGE
        try:
            data = signing.loads(parts[1], salt=TOKEN_SALT, max_age=max_age)
        except signing.SignatureExpired:
            raise exceptions.AuthenticationFailed('Token expired, log in again.')
        except signing.BadSignature:
            raise exceptions.AuthenticationFailed('Invalid token.')
        user = get_user_model().objects.filter(pk=data.get('u'), is_active=True).first()
        if user is None or not hmac.compare_digest(str(data.get('h', '')), user.get_session_auth_hash()[:20]):
            raise exceptions.AuthenticationFailed('Invalid token.')
        return user, None

    def authenticate_header(self, request):
        return self.keyword


def _text(data, name):
    value = data.get(name, '') if hasattr(data, 'get') else ''
    return value if isinstance(value, str) else ''


class Register(APIView):
    authentication_classes = []
    permission_classes = []

    def post(self, request):
        username, password = _text(request.data, 'username').strip(), _text(request.data, 'password')
        email = _text(request.data, 'email').strip()
        errors = {}
        try:
            UnicodeUsernameValidator()(username)
        except DjangoValidationError as exc:
            errors['username'] = list(exc.messages)
        if not username or len(username) > 150:
            errors['username'] = ['1 to 150 characters: letters, digits and @/./+/-/_']
        if not password:
            errors['password'] = ['required']
        if errors:
            return Response(errors, status=status.HTTP_400_BAD_REQUEST)
        User = get_user_model()
        try:
            with transaction.atomic():
                if User.objects.filter(username=username).exists():
                    raise IntegrityError
                user = User.objects.create_user(username, email, password)
        except IntegrityError:
            return Response({'username': ['already taken']}, status=status.HTTP_409_CONFLICT)
        return Response({'id': user.pk, 'username': user.username}, status=status.HTTP_201_CREATED)


class Login(APIView):
    authentication_classes = []
    permission_classes = []

    def post(self, request):
        user = authenticate(request._request, username=_text(request.data, 'username'),
                            password=_text(request.data, 'password'))
        if user is None:
            return Response({'detail': 'Wrong username or password.'}, status=status.HTTP_401_UNAUTHORIZED,
                            headers={'WWW-Authenticate': 'Token'})
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)  # sets last_login
        return Response({'token': issue_token(user), 'user': {'id': user.pk, 'username': user.username},
                         'last_login': user.last_login})
