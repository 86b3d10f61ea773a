// Demo citizens of the simulator. The personal identification numbers are made up but have the
// shape of real ones (12 digits: province, sex/century, birth year, serial).
export const citizens = {
  'citizen-l2': {
    acr: '2',
    claims: {
      name: 'Nguyễn Thị Lan',
      given_name: 'Lan',
      family_name: 'Nguyễn',
      birthdate: '1990-04-12',
      gender: 'female',
      phone_number: '+84912345678',
      phone_number_verified: true,
      address: {
        formatted: 'Số 12 Lê Lợi, Phường Bến Thành, Quận 1, TP. Hồ Chí Minh',
        street_address: 'Số 12 Lê Lợi',
        locality: 'Phường Bến Thành',
        region: 'TP. Hồ Chí Minh',
        country: 'VN',
      },
      identification_number: '079190001234',
    },
  },
  'citizen-l1': {
    acr: '1',
    claims: {
      name: 'Trần Văn Minh',
      given_name: 'Minh',
      family_name: 'Trần',
      birthdate: '1985-11-03',
      gender: 'male',
      phone_number: '+84987654321',
      phone_number_verified: true,
      address: {
        formatted: 'Thôn Đông, Xã Tân Lập, Huyện Đan Phượng, Hà Nội',
        locality: 'Xã Tân Lập',
        region: 'Hà Nội',
        country: 'VN',
      },
      identification_number: '001085005678',
    },
  },
  official: {
    acr: '2',
    claims: {
      name: 'Lê Quốc Huy',
      given_name: 'Huy',
      family_name: 'Lê',
      birthdate: '1978-02-20',
      gender: 'male',
      phone_number: '+84903111222',
      phone_number_verified: true,
      address: {
        formatted: 'Số 5 Trần Hưng Đạo, Phường 1, TP. Cà Mau, Cà Mau',
        region: 'Cà Mau',
        country: 'VN',
      },
      identification_number: '096078009012',
    },
  },
  merchant: {
    acr: '2',
    claims: {
      name: 'Phạm Thị Hồng',
      given_name: 'Hồng',
      family_name: 'Phạm',
      birthdate: '1982-07-15',
      gender: 'female',
      phone_number: '+84977333444',
      phone_number_verified: true,
      address: {
        formatted: 'Ấp Tân Hưng, Xã Tân Thành, Huyện Cái Nước, Cà Mau',
        region: 'Cà Mau',
        country: 'VN',
      },
      identification_number: '096182003456',
    },
  },
};

// The provider's subject identifiers are opaque and stable per citizen, as VNeID's are.
export function subjectOf(login) {
  return `vneid-${login}`;
}

export function loginOfSubject(sub) {
  return sub.startsWith('vneid-') ? sub.slice('vneid-'.length) : undefined;
}
