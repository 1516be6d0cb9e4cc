% gen_primitives.m: reference outputs of Octave 7 + octave-image (Debian) for the MATLAB primitives of
% package baselines/matlab; the Go tests read primitives_ref.json. Run from this folder:
%   octave --no-gui --quiet gen_primitives.m            (writes primitives_ref.json)
%   octave --no-gui --quiet --eval "out='X.json'; gen_primitives"   (writes X)
% Where Octave's function differs from MATLAB's (imresize: no weight normalisation when shrinking;
% fspecial 'log': another formula; histeq: a plain CDF lookup; rgb2gray: 6-digit weights) the file
% records what the test compares against and why, in each case's "ref" field.
1; % a script file: the helper below is defined before use
function J = hist_matlab(I, m)
  % MATLAB's histeq(I, m) for uint8 I: 256-bin histogram, flat target of m bins scaled to numel(I),
  % transformation minimising the cumulative error with half a bin's count of tolerance (0 at both
  % ends), errors below -numel*sqrt(eps) excluded, first minimum; grayxform rounds 255*T to uint8.
  n = 256;
  nn = histc(double(I(:)), 0:255).';
  cum = cumsum(nn);
  hgram = ones(1, m) * (numel(I) / m);
  hgram = hgram * (numel(I) / sum(hgram));
  cumd = cumsum(hgram);
  tol = ones(m, 1) * min([nn(1:n-1), 0; 0, nn(2:n)]) / 2;
  err = (cumd(:) * ones(1, n) - ones(m, 1) * cum(:).') + tol;
  d = find(err < -numel(I) * sqrt(eps));
  err(d) = numel(I);
  [~, T] = min(err);
  T = (T - 1) / (m - 1);
  J = uint8(255 * T(double(I) + 1));
  J = reshape(J, size(I));
end

pkg load image
if ~exist('out', 'var'), out = 'primitives_ref.json'; end
rand('state', 20240611);
m = @(A) struct('h', size(A,1), 'w', size(A,2), 'data', reshape(double(A).', 1, []));
cases = {};
add = @(c) c; %#ok

A  = round(rand(7, 9) * 255e3) / 1e3;        % random doubles, short to print
B  = round(rand(12, 15) * 255e3) / 1e3;
[xx, yy] = meshgrid(0:49, 0:32);
S  = 128 + 100*sin(xx/3) .* cos(yy/5) + 20*mod(xx+yy, 2);   % structured 33x50
R  = round(rand(33, 50) * 255e3) / 1e3;
k3 = rand(3,3) - 0.5;  k4 = rand(4,4);  k25 = rand(2,5) - 0.3;  k16 = rand(1,6);
k7 = fspecial('gaussian', [7 7], 7/6);  k911 = rand(9,11);
kern = {k3, k4, k25, k16, k7, k911};  kname = {'3x3', '4x4', '2x5', '1x6', 'gauss7', '9x11'};

% imfilter: correlation, 'same', the four border options.
borders = {0, 'replicate', 'symmetric', 'circular'};  bname = {'zero', 'replicate', 'symmetric', 'circular'};
for bi = 1:4
  for ki = 1:numel(kern)
    cases{end+1} = struct('fn', 'imfilter', 'name', ['A7x9/' kname{ki} '/' bname{bi}], 'border', bname{bi}, ...
      'a', m(A), 'k', m(kern{ki}), 'want', m(imfilter(A, kern{ki}, borders{bi}, 'same', 'corr')), 'ref', 'octave imfilter');
  end
  for ki = [1 2 5]
    cases{end+1} = struct('fn', 'imfilter', 'name', ['B12x15/' kname{ki} '/' bname{bi}], 'border', bname{bi}, ...
      'a', m(B), 'k', m(kern{ki}), 'want', m(imfilter(B, kern{ki}, borders{bi}, 'same', 'corr')), 'ref', 'octave imfilter');
  end
end

% conv2 and filter2, three shapes.
shapes = {'full', 'same', 'valid'};
for si = 1:3
  for ki = [1 2 3 4 6]
    cases{end+1} = struct('fn', 'conv2', 'name', ['A7x9/' kname{ki} '/' shapes{si}], 'shape', shapes{si}, ...
      'a', m(A), 'k', m(kern{ki}), 'want', m(conv2(A, kern{ki}, shapes{si})), 'ref', 'octave conv2');
    cases{end+1} = struct('fn', 'filter2', 'name', ['A7x9/' kname{ki} '/' shapes{si}], 'shape', shapes{si}, ...
      'a', m(A), 'k', m(kern{ki}), 'want', m(filter2(kern{ki}, A, shapes{si})), 'ref', 'octave filter2');
  end
  cases{end+1} = struct('fn', 'conv2', 'name', ['B12x15/4x4/' shapes{si}], 'shape', shapes{si}, ...
    'a', m(B), 'k', m(k4), 'want', m(conv2(B, k4, shapes{si})), 'ref', 'octave conv2');
end

% imresize (bicubic, antialiasing on). Octave's imresize computes MATLAB's kernel, taps and mirrored
% indices but does not normalise the weights: "raw" cases are compared with the unnormalised path of
% the Go code; upscaling needs no normalisation (the cubic sums to 1), so those compare the public API.
imgs = {A, R, S, B};  iname = {'A7x9', 'R33x50', 'S33x50', 'B12x15'};
for ii = 1:4
  for sc = [0.5 0.37 2 1.5]
    if (ii == 2 || ii == 3) && sc > 1, continue; end  % upscaling: the small images suffice
    if ii == 3 && sc ~= 0.5, continue; end
    kind = 'raw';  if sc > 1, kind = 'api'; end
    cases{end+1} = struct('fn', 'imresize', 'name', sprintf('%s/%g', iname{ii}, sc), 'scale', sc, 'size', [0 0], ...
      'kind', kind, 'a', m(imgs{ii}), 'want', m(imresize(imgs{ii}, sc)), 'ref', 'octave imresize (unnormalised when shrinking)');
  end
end
for sz = {[4 5], [50 20], [13 77]}
  cases{end+1} = struct('fn', 'imresize', 'name', sprintf('R33x50/to%dx%d', sz{1}), 'scale', 0, 'size', sz{1}, ...
    'kind', 'raw', 'a', m(R), 'want', m(imresize(R, sz{1})), 'ref', 'octave imresize (unnormalised when shrinking)');
end

% rgb2gray on uint8. MATLAB's rgb2gray adds the three weighted planes in double (imlincomb or
% imapplymatrix) and rounds to uint8; Octave's imlincomb does the same. Octave's own rgb2gray uses
% 6-digit weights, recorded as "octave" for comparison only.
cw = [0.298936021293775 0.587043074451121 0.114020904255103];
rgb = uint8(randi([0 255], 20, 27, 3));
ramp = uint8(cat(3, repmat(0:255, 4, 1), repmat(255:-1:0, 4, 1), repmat(mod((0:255)*7, 256), 4, 1)));
ramp(2, :, :) = repmat(0:255, [1 1 3]);            % gray pixels R = G = B
for ri = 1:2
  if ri == 1, im = rgb; nm = 'rand20x27'; else im = ramp; nm = 'ramp4x256'; end
  d = double(im);
  dbl = (cw(1)*d(:,:,1) + cw(2)*d(:,:,2)) + cw(3)*d(:,:,3);
  cases{end+1} = struct('fn', 'rgb2gray', 'name', nm, 'r', m(im(:,:,1)), 'g', m(im(:,:,2)), 'b', m(im(:,:,3)), ...
    'want', m(imlincomb(cw(1), im(:,:,1), cw(2), im(:,:,2), cw(3), im(:,:,3))), 'double', m(dbl), ...
    'octave', m(rgb2gray(im)), 'ref', 'octave imlincomb with MATLAB weights (uint8); double sum in Octave');
end

% fspecial 'gaussian': Octave's has no eps*max cut-off; the tolerance covers the cut entries.
for p = {{[3 3], 0.5}, {[11 11], 1.5}, {[7 7], 7/6}, {[4 6], 1}, {[31 31], 1}, {[1 9], 2}}
  cases{end+1} = struct('fn', 'gaussian', 'name', sprintf('%dx%d/%g', p{1}{1}, p{1}{2}), 'size', p{1}{1}, ...
    'sigma', p{1}{2}, 'want', m(fspecial('gaussian', p{1}{1}, p{1}{2})), 'ref', 'octave fspecial gaussian');
end

% fspecial 'log': Octave's formula differs from MATLAB's, so the reference is MATLAB's documented
% definition evaluated here (normalised Gaussian times (r^2 - 2 s^2)/s^4, minus its mean).
for p = {{[5 5], 0.5}, {[9 9], 1.4}, {[4 6], 1}, {[13 13], 2}}
  sz = p{1}{1}; s = p{1}{2};
  [x, y] = meshgrid(-(sz(2)-1)/2:(sz(2)-1)/2, -(sz(1)-1)/2:(sz(1)-1)/2);
  g = exp(-(x.^2 + y.^2) / (2*s^2));  g(g < eps*max(g(:))) = 0;  g = g / sum(g(:));
  l = g .* (x.^2 + y.^2 - 2*s^2) / s^4;  l = l - sum(l(:)) / numel(l);
  cases{end+1} = struct('fn', 'log', 'name', sprintf('%dx%d/%g', sz, s), 'size', sz, 'sigma', s, ...
    'want', m(l), 'octave', m(fspecial('log', sz, s)), 'ref', 'MATLAB fspecial log definition in Octave');
end

% histeq on uint8: Octave's histeq is a CDF lookup, not MATLAB's; the reference is MATLAB's
% algorithm written out below (hist_matlab), matrix form as MATLAB's histeq states it.
hin = {uint8(randi([0 255], 20, 27)), uint8(randi([90 130], 20, 27)), ...
       uint8([zeros(5,10) 50*ones(5,10); 51*ones(5,10) 200*ones(5,10)]), uint8(77*ones(6,7)), ...
       uint8(reshape(0:255, 16, 16)), uint8(min(255, round(255*rand(24, 19).^3)))};
hname = {'rand', 'lowcontrast', 'fourlevels', 'constant', 'ramp', 'dark'};
for hi = 1:numel(hin)
  for n = [64 256 32 2]
    cases{end+1} = struct('fn', 'histeq', 'name', sprintf('%s/%d', hname{hi}, n), 'levels', n, ...
      'a', m(hin{hi}), 'want', m(hist_matlab(hin{hi}, n)), 'octave', m(uint8(255*histeq(hin{hi}, n))), ...
      'ref', 'MATLAB histeq algorithm in Octave (hist_matlab)');
  end
end

fid = fopen(out, 'w');
fprintf(fid, '%s\n', jsonencode(struct('generator', 'gen_primitives.m', 'octave', OCTAVE_VERSION, ...
  'image', pkg('describe', 'image'){1}.version, 'cases', {cases})));
fclose(fid);
